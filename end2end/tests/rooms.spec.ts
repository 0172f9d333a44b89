import { test, expect, type APIRequestContext, type Page } from "@playwright/test";
import { hydrated, post, unique } from "./helpers";

/** A room name no other test (or earlier run) has used. */
function uniqueRoom(label: string): string {
  return `${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

async function postTo(request: APIRequestContext, room: string, text: string) {
  const res = await request.post("/api/send", { form: { screenname: "filler", text, room } });
  expect(res.status()).toBe(200);
}

async function openRoom(page: Page, room: string) {
  await page.goto(`/r/${room}`);
  await hydrated(page);
}

test("two rooms in two browsers do not see each other's lines", async ({ browser }) => {
  const [red, blue] = [uniqueRoom("red"), uniqueRoom("blue")];
  const inRed = await (await browser.newContext()).newPage();
  const inBlue = await (await browser.newContext()).newPage();
  await openRoom(inRed, red);
  await openRoom(inBlue, blue);
  await expect(inRed.getByRole("heading", { level: 1 })).toHaveText(`#${red}`);
  await expect(inRed).toHaveTitle(`#${red} · Chat`);

  const redText = unique("only red");
  const blueText = unique("only blue");
  await post(inRed, "rita", redText);
  await post(inBlue, "bo", blueText);
  await expect(inRed.locator("#chatbox .line .text", { hasText: redText })).toHaveCount(1);
  await expect(inBlue.locator("#chatbox .line .text", { hasText: blueText })).toHaveCount(1);
  // Each page's held poll has answered with its own room's line by now; a line of the other
  // room never arrives. (Proved from both sides: each saw its own line after the other's post.)
  const third = unique("red again");
  await post(inRed, "rita", third);
  await expect(inRed.locator("#chatbox .line .text", { hasText: third })).toHaveCount(1);
  await expect(inRed.locator("#chatbox .line .text", { hasText: blueText })).toHaveCount(0);
  await expect(inBlue.locator("#chatbox .line .text", { hasText: redText })).toHaveCount(0);
  await expect(inBlue.locator("#chatbox .line .text", { hasText: third })).toHaveCount(0);
});

test("scrolling back brings the room's first line, keeping the reader's place", async ({ page, request }) => {
  test.setTimeout(120_000);
  const room = uniqueRoom("history");
  for (let i = 1; i <= 500; i++) await postTo(request, room, `line ${i}`);
  await openRoom(page, room);
  const chatbox = page.locator("#chatbox");
  const line = (n: number) => chatbox.locator(".line .text", { hasText: new RegExp(`^line ${n}$`) });
  await expect(line(500)).toHaveCount(1);
  await expect(line(451)).toHaveCount(1);
  await expect(line(450)).toHaveCount(0);

  // The page starts at the newest line.
  await expect
    .poll(() => chatbox.evaluate((b) => b.scrollHeight - b.scrollTop - b.clientHeight <= 8))
    .toBe(true);
  // Scrolled to the top, the previous page loads by itself, above what the reader sees.
  const before = await chatbox.evaluate((box) => {
    box.scrollTop = 0;
    const first = [...box.querySelectorAll(".line")].find((l) => l.textContent!.endsWith("line 451"))!;
    return first.getBoundingClientRect().top - box.getBoundingClientRect().top;
  });
  await expect(line(401)).toHaveCount(1);
  const after = await line(451).evaluate((l) => {
    const box = document.getElementById("chatbox")!;
    return l.closest(".line")!.getBoundingClientRect().top - box.getBoundingClientRect().top;
  });
  expect(Math.abs(after - before)).toBeLessThanOrEqual(2);

  // "Show older lines" loads the page before.
  await page.getByRole("link", { name: "Show older lines" }).click();
  await expect(line(351)).toHaveCount(1);

  // Back to the beginning.
  await expect
    .poll(
      async () => {
        await chatbox.evaluate((box) => box.scrollTo(0, 0));
        return page.getByText(`This is the beginning of #${room}.`).count();
      },
      { timeout: 60_000 },
    )
    .toBe(1);
  await expect(line(1)).toHaveCount(1);
  // However far back, the page keeps a bounded number of lines.
  expect(await chatbox.locator(".line").count()).toBeLessThanOrEqual(300);
});

test("with JavaScript off, history pages back by link and the room links work", async ({ browser, request }) => {
  const room = uniqueRoom("plain");
  for (let i = 1; i <= 60; i++) await postTo(request, room, `plain ${i}`);
  const other = uniqueRoom("other");
  await postTo(request, other, "over here");

  const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await page.goto(`/r/${room}`);
  const texts = page.locator("#chatbox .line .text");
  await expect(texts.first()).toHaveText("plain 11");
  await expect(texts.last()).toHaveText("plain 60");

  await page.getByRole("link", { name: "Show older lines" }).click();
  await expect(page).toHaveURL(new RegExp(`/r/${room}\\?before=\\d+$`));
  await expect(texts.first()).toHaveText("plain 1");
  await expect(texts.last()).toHaveText("plain 10");
  await expect(page.getByText(`This is the beginning of #${room}.`)).toHaveCount(1);

  await page.getByRole("link", { name: "Back to the newest lines" }).click();
  await expect(page).toHaveURL(new RegExp(`/r/${room}$`));
  await expect(texts.last()).toHaveText("plain 60");

  // The recently active rooms are links.
  await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: `#${other}` }).click();
  await expect(page).toHaveURL(new RegExp(`/r/${other}$`));
  await expect(texts.last()).toHaveText("over here");

  // Going to a room by name, as typed.
  await page.getByLabel("Room", { exact: true }).fill("  Some-Where  ");
  await page.getByRole("button", { name: "Go" }).click();
  await expect(page).toHaveURL(/\/r\/some-where$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("#some-where");
});

test("room addresses are canonical: capitals and /r/general redirect, garbage is a 404", async ({ page }) => {
  const res = await page.goto("/r/Dev-Room");
  expect(new URL(page.url()).pathname).toBe("/r/dev-room");
  expect(res!.status()).toBe(200);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("#dev-room");

  await page.goto("/r/general");
  expect(new URL(page.url()).pathname).toBe("/");

  const missing = await page.goto("/r/not_a_room!");
  expect(missing!.status()).toBe(404);
  await expect(page.getByText("1 to 32 characters")).toHaveCount(1);
});

test("the keyboard skips to the message field, and Tab onto Show older lines loads nothing", async ({ page, request }) => {
  const room = uniqueRoom("keys");
  for (let i = 1; i <= 60; i++) await postTo(request, room, `key ${i}`);
  const history: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/lines") && r.url().includes("before=")) history.push(r.url());
  });
  await page.goto(`/r/${room}`);
  await hydrated(page);
  // The first Tab reaches the skip link, which goes to the message field.
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to the message field" });
  await expect(skip).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByLabel("Message", { exact: true })).toBeFocused();
  // Reaching "Show older lines" by keyboard scrolls the log to it, and loads nothing...
  const older = page.getByRole("link", { name: "Show older lines" });
  await older.focus();
  await expect(older).toBeFocused();
  await postTo(request, room, "after the focus");
  await expect(page.locator("#chatbox .line .text").last()).toHaveText("after the focus");
  expect(history).toEqual([]);
  await expect(page.locator("#chatbox .line .text").first()).toHaveText("key 11");
  // ...until it is followed.
  await page.keyboard.press("Enter");
  await expect(page.locator("#chatbox .line .text").first()).toHaveText("key 1");
  expect(history.length).toBeGreaterThan(0);
});
