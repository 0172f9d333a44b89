// Time to a live page, in Chromium: navigation start → the page hydrated and its first poll
// answered, over cold loads (a new browser context each: nothing cached), on localhost; also
// with the CPU throttled 4× (a mid-range phone). Prints the median and the worst.
//
//   node end2end/bench/live-page.mjs http://127.0.0.1:3000 [loads]
import { chromium } from "@playwright/test";

const base = process.argv[2] ?? "http://127.0.0.1:3000";
const loads = Number(process.argv[3] ?? 10);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function once(throttle) {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (throttle > 1) {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  }
  // The hydrated page's first poll catches up on what was posted since the render and answers
  // at once: once it has, the page is live (the next poll is the held one).
  const firstPoll = page.waitForResponse((res) => new URL(res.url()).pathname === "/api/lines", { timeout: 60_000 });
  await page.goto(base, { waitUntil: "commit" });
  await (await firstPoll).finished();
  await page.waitForSelector("body[data-hydrated]", { state: "attached", timeout: 60_000 });
  const live = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const poll = performance.getEntriesByType("resource").find((r) => r.name.includes("/api/lines"));
    return poll.responseEnd - nav.startTime;
  });
  await context.close();
  return live;
}

for (const throttle of [1, 4]) {
  const times = [];
  for (let i = 0; i < loads; i++) times.push(await once(throttle));
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `time to a live page (navigation → hydrated and polling), CPU ×${throttle}: median ${median.toFixed(0)} ms, worst ${times[times.length - 1].toFixed(0)} ms over ${loads} cold loads`,
  );
}
await browser.close();
