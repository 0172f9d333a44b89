import { test, expect } from "@playwright/test";
import { hydrated, openChat, anotherLineShown, post, storedWithText, unique } from "./helpers";
import { OwnServer } from "./server";

test("a line posted in one browser appears in another without reload, at once", async ({ browser }) => {
  // A long poll period: only a held poll can deliver within a second.
  const server = new OwnServer(3300 + test.info().workerIndex, ["--poll-ms", "5000"]);
  await server.start();
  try {
    const alice = await (await browser.newContext({ baseURL: server.url })).newPage();
    const bob = await (await browser.newContext({ baseURL: server.url })).newPage();
    // Bob's page holds a poll before anything is sent (watched from before it loads: the held
    // poll may start before hydration is seen).
    const bobHolds = bob.waitForRequest((req) => /\/api\/lines\?.*wait=25/.test(req.url()));
    await openChat(alice);
    await openChat(bob);
    await bobHolds;

    const text = unique("hello from alice");
    await post(alice, "alice", text);
    // The sender sees it at once, and the message field is cleared; the name stays.
    await expect(alice.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
    await expect(alice.getByLabel("Message", { exact: true })).toHaveValue("");
    await expect(alice.getByLabel("Screen name", { exact: true })).toHaveValue("alice");
    await expect(alice.getByLabel("Message", { exact: true })).toBeFocused();

    // The other reader gets it from the held poll, well within the 5 s period.
    const line = bob.locator("#chatbox .line", { hasText: text });
    await expect(line).toHaveCount(1, { timeout: 1_000 });
    await expect(line.locator(".name")).toHaveText("alice");
    await expect(line.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  } finally {
    await server.stop();
  }
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
    await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveText(text);
    await expect(page.locator("#chatbox img")).toHaveCount(0);
  }
  // And once more as rendered by the server.
  await reader.reload();
  await expect(reader.locator("#chatbox .line .text", { hasText: text })).toHaveText(text);
  await expect(reader.locator("#chatbox img")).toHaveCount(0);
  expect(dialogs).toEqual([]);
});

test("the page logs no console errors or hydration warnings", async ({ page, request }) => {
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));

  await openChat(page);
  await post(page, "erin", unique("quiet console"));
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
  // Let a few polls run.
  await anotherLineShown(page, request);
  await page.reload();
  await hydrated(page);
  expect(problems).toEqual([]);
});
