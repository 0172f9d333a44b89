import { test, expect } from "@playwright/test";
import { openChat, post, pollPeriod, storedWithText, unique } from "./helpers";

test("a line posted in one browser appears in another without reload", async ({ browser, request }) => {
  const period = await pollPeriod(request);
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await browser.newContext()).newPage();
  await openChat(alice);
  await openChat(bob);

  const text = unique("hello from alice");
  await post(alice, "alice", text);
  // The sender sees it at once, and the message field is cleared; the name stays.
  await expect(alice.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
  await expect(alice.getByLabel("Message", { exact: true })).toHaveValue("");
  await expect(alice.getByLabel("Screen name", { exact: true })).toHaveValue("alice");
  await expect(alice.getByLabel("Message", { exact: true })).toBeFocused();

  // The other reader gets it from the poll: within one period plus a second.
  const line = bob.locator("#chatbox .line", { hasText: text });
  await expect(line).toHaveCount(1, { timeout: period + 1_000 });
  await expect(line.locator(".name")).toHaveText("alice");
  await expect(line.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test("with JavaScript off, the page shows the stored lines", async ({ browser, request }) => {
  const text = unique("seen without script");
  const res = await request.post("/api/send", { form: { screenname: "carol", text } });
  expect(res.status()).toBe(200);

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  const line = page.locator("#chatbox .line", { hasText: text });
  await expect(line).toHaveCount(1);
  await expect(line.locator(".name")).toHaveText("carol");
  await expect(page.locator("body[data-hydrated]")).toHaveCount(0);
});

test("a 101-character message shows the error by the form and is not stored", async ({ page, request }) => {
  await openChat(page);
  const text = "x".repeat(90) + unique("").replace(/\s/g, "").padEnd(11, "y").slice(0, 11);
  expect([...text].length).toBe(101);
  await post(page, "dave", text);
  await expect(page.locator("#form-error")).toHaveText(
    "Message is 101 characters long; the limit is 100.",
  );
  // Nothing went out and nothing was stored; the text stays for the writer to shorten.
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue(text);
  expect(await storedWithText(request, text)).toHaveLength(0);

  // The server holds the same rule when the browser's check is bypassed.
  const res = await request.post("/api/send", { form: { screenname: "dave", text } });
  expect(res.status()).toBe(400);
  expect((await res.json()).message).toBe("Message is 101 characters long; the limit is 100.");
  expect(await storedWithText(request, text)).toHaveLength(0);
});

test("user text is shown as text, never run as HTML", async ({ browser }) => {
  const dialogs: string[] = [];
  const writer = await (await browser.newContext()).newPage();
  const reader = await (await browser.newContext()).newPage();
  for (const page of [writer, reader]) page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  await openChat(writer);
  await openChat(reader);

  const text = `<img src=x onerror=alert(1)> ${unique("")}`.trim();
  await post(writer, "mallory", text);
  for (const page of [writer, reader]) {
    await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveText(text, {
      timeout: 5_000,
    });
    await expect(page.locator("#chatbox img")).toHaveCount(0);
  }
  // And once more as rendered by the server.
  await reader.reload();
  await expect(reader.locator("#chatbox .line .text", { hasText: text })).toHaveText(text);
  await expect(reader.locator("#chatbox img")).toHaveCount(0);
  expect(dialogs).toEqual([]);
});

test("the page logs no console errors or hydration warnings", async ({ page }) => {
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));

  await openChat(page);
  await post(page, "erin", unique("quiet console"));
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
  // Let a few polls run.
  await page.waitForTimeout(2_500);
  await page.reload();
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1, { timeout: 15_000 });
  expect(problems).toEqual([]);
});
