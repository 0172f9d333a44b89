// `make build`'s last step: the wasm + JS a browser downloads stay within the page's budget
// (150 KB brotli, in thousands of bytes as `make bench` reports it). A hard gate for the wasm
// built by the nightly the size flags were measured with; a wasm built on stable instead
// (`.ci/leptos` records which in its third argument's file) is reported with a warning.
// usage: node end2end/size-budget.mjs <pkg dir> <budget in bytes> [<target/wasm-build>]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";

const [dir, budget, record] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const built = record && existsSync(record) ? readFileSync(record, "utf8").trim() : "nightly";
const shipped = readdirSync(dir).filter((name) => /^chat\..*\.(wasm|js)$/.test(name));
if (shipped.length !== 2 || !(budget > 0)) {
  console.error(`size-budget: expected one chat wasm and one chat JS in ${dir} and a budget, found ${shipped}`);
  process.exit(2);
}
const brotli = (file) =>
  brotliCompressSync(readFileSync(join(dir, file)), {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
  }).length;
const sizes = shipped.map((file) => [file, brotli(file)]);
const total = sizes.reduce((sum, [, size]) => sum + size, 0);
const detail = sizes.map(([file, size]) => `${file} ${size}`).join(", ");
if (total > budget && built !== "nightly") {
  console.warn(`size-budget: warning: wasm + JS is ${total} bytes brotli, over the budget of ${budget}, built on ${built} (${detail})`);
  process.exit(0);
}
if (total > budget) {
  console.error(`size-budget: wasm + JS is ${total} bytes brotli, over the budget of ${budget} (${detail})`);
  process.exit(1);
}
console.log(`size-budget: wasm + JS ${total} bytes brotli, within ${budget}, built on ${built} (${detail})`);
