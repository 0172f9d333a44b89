import { test, expect } from "@playwright/test";
import { hydrated, post, unique } from "./helpers";
import { OwnServer, freshPostgres } from "./server";

test("a line posted on a page of server A appears on a page of server B", async ({ browser }) => {
  const w = test.info().workerIndex;
  const database = freshPostgres();
  // A long period: only a held poll woken across servers delivers in time.
  const args = ["--poll-ms", "5000"];
  const a = new OwnServer(3430 + w, args, database);
  const b = new OwnServer(3440 + w, args, database);
  await a.start();
  await b.start();
  try {
    const onA = await (await browser.newContext({ baseURL: a.url })).newPage();
    const onB = await (await browser.newContext({ baseURL: b.url })).newPage();
    // Watched from before the page loads: the held poll may start before hydration is seen.
    const heldOnB = onB.waitForRequest((req) => /\/api\/lines\?.*wait=25/.test(req.url()));
    await onA.goto("/");
    await onB.goto("/");
    await hydrated(onA);
    await hydrated(onB);
    await heldOnB;
    const text = unique("from server A");
    await post(onA, "ann", text);
    await expect(onB.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1, { timeout: 2_000 });
    // And back.
    const reply = unique("from server B");
    await post(onB, "bob", reply);
    await expect(onA.locator("#chatbox .line .text", { hasText: reply })).toHaveCount(1, { timeout: 2_000 });
  } finally {
    await a.stop();
    await b.stop();
  }
});
