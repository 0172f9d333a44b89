import { test, expect } from "@playwright/test";
import { hydrated, openChat, anotherLineShown, post, storedWithText, unique } from "./helpers";
import { OwnServer } from "./server";

test("a send whose answer is lost is retried with its key and shown once", async ({ page, request }) => {
  let sends = 0;
  await page.route("**/api/send", async (route) => {
    sends += 1;
    if (sends === 1) {
      // The server stores the line and answers, but the answer never reaches the page.
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  await openChat(page);
  const text = unique("answer lost");
  await post(page, "ivy", text);

  const shown = page.locator("#chatbox .line .text", { hasText: text });
  await expect(shown).toHaveCount(1);
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
  expect(sends).toBe(2);
  expect(await storedWithText(request, text)).toHaveLength(1);
  // Polls that follow do not add it again.
  await anotherLineShown(page, request);
  await expect(shown).toHaveCount(1);
});

test("the page runs under a nonce Content-Security-Policy without violations", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
  });
  const response = await page.goto("/");
  const policy = response!.headers()["content-security-policy"];
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}' 'wasm-unsafe-eval'/);
  expect(policy).toContain("object-src 'none'");
  expect(policy).toContain("frame-ancestors 'none'");
  await hydrated(page);
  await post(page, "csp", unique("under policy"));
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
  expect(violations).toEqual([]);
  // An injected inline script would not run.
  const ran = await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__injected = true";
    document.body.append(s);
    return (window as unknown as { __injected?: boolean }).__injected === true;
  });
  expect(ran).toBe(false);
});

test("posting too fast shows 'slow down' and sends once the server allows", async ({ browser }) => {
  // Behind a (pretend) proxy that says the browser is 198.51.100.23, limited to a burst of 2
  // and then one post every 10 s: the three posts below go out long before an allowance comes
  // back, however slow the browser is, and the page's wait is short enough to watch.
  const server = new OwnServer(3200 + test.info().workerIndex, [
    "--trusted-proxy", "127.0.0.1",
    "--rate-limit-exempt", "192.0.2.255",
    "--post-rate", "6",
    "--post-burst", "2",
  ]);
  await server.start();
  try {
    const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": "198.51.100.23" } });
    const page = await context.newPage();
    await page.goto(server.url);
    await hydrated(page);
    const message = page.getByLabel("Message", { exact: true });
    const texts = [unique("fast 1"), unique("fast 2"), unique("fast 3")];
    for (const text of texts) {
      await post(page, "quick", text);
      if (text !== texts[2]) await expect(message).toHaveValue("");
    }
    await expect(page.locator("#form-error")).toHaveText(/^Slow down: sending again in \d+ s\.$/);
    await expect(message).toHaveValue(texts[2]);
    // Honoured: sent after the wait (at most 10 s), once.
    await expect(message).toHaveValue("", { timeout: 30_000 });
    await expect(page.locator("#form-error")).toHaveText("");
    await expect(page.locator("#chatbox .line .text")).toHaveText(texts);
  } finally {
    await server.stop();
  }
});
