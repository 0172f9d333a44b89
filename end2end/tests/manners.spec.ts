import { test, expect, type Page } from "@playwright/test";
import { hydrated, openChat, post, unique } from "./helpers";
import { OwnServer } from "./server";

test("the page shows it is reconnecting, then recovers and catches up", async ({ page, request }) => {
  const server = new OwnServer(3100 + test.info().workerIndex);
  await server.start();
  try {
    await page.goto(server.url);
    await hydrated(page);
    const status = page.getByRole("status");
    await expect(status).toBeHidden();

    await server.stop();
    await expect(status).toHaveText("Reconnecting…", { timeout: 20_000 });
    await expect(status).toBeVisible();

    await server.start();
    const missed = [unique("missed one"), unique("missed two")];
    for (const text of missed) {
      const res = await request.post(`${server.url}/api/send`, { form: { screenname: "zoe", text } });
      expect(res.status()).toBe(200);
    }
    // Backoff is at most a few seconds this early; then the page catches up, in order, once.
    const lines = page.locator("#chatbox .line .text");
    await expect(lines).toHaveText(missed, { timeout: 30_000 });
    await expect(status).toBeHidden();
  } finally {
    await server.stop();
  }
});

/** Pretends the tab was hidden or shown, as the browser would tell the page. */
async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
    Object.defineProperty(document, "visibilityState", {
      value: hidden ? "hidden" : "visible",
      configurable: true,
    });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

test("a hidden tab holds no poll, counts unread lines in its title and clears them when shown", async ({ page, request }) => {
  // Visible: a poll is held (watched from before the page loads).
  const holds = page.waitForRequest((req) => /\/api\/lines\?.*wait=25/.test(req.url()));
  await openChat(page);
  await expect(page).toHaveTitle("#general · Chat");
  await holds;
  await setHidden(page, true);

  const texts = [unique("while away 1"), unique("while away 2")];
  const nextPoll = page.waitForRequest((req) => new URL(req.url()).pathname === "/api/lines", {
    timeout: 30_000,
  });
  for (const text of texts) {
    await request.post("/api/send", { form: { screenname: "yan", text } });
  }
  // Hidden tabs poll five times less often (every 10 s or so), and hold nothing: browsers
  // share a few connections per host among all tabs.
  const unread = async () => Number((await page.title()).match(/^\((\d+)\) #general · Chat$/)?.[1] ?? 0);
  await expect.poll(unread, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  expect(new URL((await nextPoll).url()).searchParams.get("wait")).toBeNull();

  await setHidden(page, false);
  await expect(page).toHaveTitle("#general · Chat");
  for (const text of texts) {
    await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
  }
});

async function scrollState(page: Page) {
  return page.locator("#chatbox").evaluate((el) => ({
    top: el.scrollTop,
    atBottom: el.scrollHeight - el.scrollTop - el.clientHeight <= 8,
    overflows: el.scrollHeight > el.clientHeight,
  }));
}

test("the log follows new lines only when the reader is at the bottom", async ({ page, request }) => {
  await page.setViewportSize({ width: 800, height: 500 });
  for (let i = 0; i < 30; i++) {
    await request.post("/api/send", { form: { screenname: "filler", text: unique(`filler ${i}`) } });
  }
  await openChat(page);
  await expect.poll(async () => (await scrollState(page)).atBottom).toBe(true);
  expect((await scrollState(page)).overflows).toBe(true);

  // At the bottom: a new line scrolls into view.
  const first = unique("follow me");
  await request.post("/api/send", { form: { screenname: "xia", text: first } });
  await expect(page.locator("#chatbox .line .text", { hasText: first })).toBeInViewport();
  await expect.poll(async () => (await scrollState(page)).atBottom).toBe(true);

  // Scrolled up to read: the view stays put and a button offers the new lines.
  await page.locator("#chatbox").evaluate((el) => el.scrollTo(0, 0));
  await expect.poll(async () => (await scrollState(page)).top).toBe(0);
  const second = unique("wait for me");
  await request.post("/api/send", { form: { screenname: "xia", text: second } });
  const button = page.getByRole("button", { name: "New messages" });
  await expect(button).toBeVisible();
  expect((await scrollState(page)).top).toBe(0);

  await button.click();
  await expect(page.locator("#chatbox .line .text", { hasText: second })).toBeInViewport();
  await expect(button).toBeHidden();
});

test("with JavaScript off, a plain form post stores the line and returns to the page", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  const text = unique("posted without script");
  await page.getByLabel("Screen name", { exact: true }).fill("walt");
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL((url) => url.pathname === "/");
  await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
  // It still updates itself, by reloading.
  await expect(page.locator('noscript')).toHaveCount(1);
});

test("keyboard alone: Enter sends and focus stays in the message field", async ({ page }) => {
  await openChat(page);
  // From the log (scrollable, focusable; the room links come before it), Tab reaches the form,
  // past the "Show older lines" link when there is one.
  await page.locator("#chatbox").focus();
  const name = page.getByLabel("Screen name", { exact: true });
  for (let i = 0; i < 3 && !(await name.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(name).toBeFocused();
  await page.keyboard.type("kim");
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Message", { exact: true })).toBeFocused();
  const text = unique("typed only");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
  await expect(page.getByLabel("Message", { exact: true })).toBeFocused();
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");
});

test("readable at 360 px wide, in light and dark", async ({ browser }) => {
  for (const colorScheme of ["light", "dark"] as const) {
    const page = await browser.newPage({ viewport: { width: 360, height: 700 }, colorScheme });
    await openChat(page);
    const widths = await page.evaluate(() => ({
      doc: document.documentElement.scrollWidth,
      view: window.innerWidth,
    }));
    expect(widths.doc).toBeLessThanOrEqual(widths.view);
    for (const name of ["Screen name", "Message"]) {
      const box = (await page.getByLabel(name, { exact: true }).boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(360);
    }
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe(colorScheme === "dark" ? "rgb(21, 21, 23)" : "rgb(247, 247, 245)");
    await page.close();
  }
});
