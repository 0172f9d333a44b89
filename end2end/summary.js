// Prints the Playwright run's totals from its JSON report, and fails unless tests ran and all
// passed. Usage: node summary.js <results.json>
const fs = require("node:fs");

const file = process.argv[2];
if (!fs.existsSync(file)) {
  console.error(`end-to-end: no report at ${file}: the Playwright tests did not run`);
  process.exit(1);
}
const { stats } = JSON.parse(fs.readFileSync(file, "utf8"));
const passed = stats.expected;
const failed = stats.unexpected + stats.flaky;
console.log(`end-to-end: ${passed} passed, ${failed} failed, ${stats.skipped} skipped`);
process.exit(passed > 0 && failed === 0 && stats.skipped === 0 ? 0 : 1);
