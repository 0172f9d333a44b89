import { test, expect } from "@playwright/test";
import { hydrated, openChat, post, unique } from "./helpers";

test("URLs become safe links; javascript: and markup stay text", async ({ page, request }) => {
  await openChat(page);
  const tag = unique("links");
  const text = `${tag} see https://example.com/docs?a=1, then javascript:alert(1) <b>bold</b>`;
  const res = await request.post("/api/send", { form: { screenname: "lee", text } });
  expect(res.status()).toBe(200);
  // Stored and served exactly as posted.
  expect((await res.json()).text).toBe(text);

  const line = page.locator("#chatbox .line", { hasText: tag });
  await expect(line).toHaveCount(1);
  const links = line.locator(".text a");
  await expect(links).toHaveCount(1);
  await expect(links).toHaveAttribute("href", "https://example.com/docs?a=1");
  await expect(links).toHaveAttribute("rel", "nofollow noopener noreferrer ugc");
  await expect(links).toHaveAttribute("target", "_blank");
  await expect(line.locator(".text")).toHaveText(text);
  await expect(line.locator("b")).toHaveCount(0);

  // Clicking opens the link in a new tab (the address is not fetched: nothing leaves here).
  await page.context().route("https://example.com/**", (route) =>
    route.fulfill({ status: 200, body: "elsewhere" }),
  );
  const [opened] = await Promise.all([page.context().waitForEvent("page"), links.click()]);
  await opened.waitForLoadState();
  expect(opened.url()).toBe("https://example.com/docs?a=1");
  expect(await opened.evaluate(() => window.opener)).toBeNull();

  // The same as rendered by the server, with no hydration warning.
  const problems: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(msg.text());
  });
  await page.reload();
  await hydrated(page);
  await expect(line.locator(".text a")).toHaveAttribute("href", "https://example.com/docs?a=1");
  expect(problems).toEqual([]);
});

test("the screen name is remembered, with JavaScript and without", async ({ browser }) => {
  const scripted = await (await browser.newContext()).newPage();
  await openChat(scripted);
  await post(scripted, "remembered-js", unique("remember me"));
  await expect(scripted.getByLabel("Message", { exact: true })).toHaveValue("");
  await scripted.reload();
  // Pre-filled by the server: right in the HTML, before any script runs.
  await expect(scripted.getByLabel("Screen name", { exact: true })).toHaveValue("remembered-js");
  const cookie = (await scripted.context().cookies()).find((c) => c.name === "chat_name")!;
  expect(cookie.sameSite).toBe("Lax");
  expect(cookie.expires - Date.now() / 1000).toBeGreaterThan(364 * 24 * 3600);

  // Changing it and posting updates it.
  await post(scripted, "renamed", unique("new name"));
  await expect(scripted.getByLabel("Message", { exact: true })).toHaveValue("");
  await scripted.reload();
  await expect(scripted.getByLabel("Screen name", { exact: true })).toHaveValue("renamed");

  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await plain.goto("/");
  await plain.getByLabel("Screen name", { exact: true }).fill("remembered-plain");
  await plain.getByLabel("Message", { exact: true }).fill(unique("no script"));
  await plain.getByRole("button", { name: "Send" }).click();
  await plain.waitForURL((url) => url.pathname === "/");
  await plain.goto("/");
  await expect(plain.getByLabel("Screen name", { exact: true })).toHaveValue("remembered-plain");
});

test("a line mentioning the reader stands out, and counts apart in a hidden tab's title", async ({ page, request }) => {
  await openChat(page);
  await post(page, "Mia", unique("hello all"));
  await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");

  const about = unique("for @mia");
  const other = unique("for @miah");
  for (const text of [about, other]) {
    await request.post("/api/send", { form: { screenname: "nat", text } });
  }
  await expect(page.locator("#chatbox .line.mention", { hasText: about })).toHaveCount(1);
  await expect(page.locator("#chatbox .line", { hasText: other })).not.toHaveClass(/mention/);

  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await request.post("/api/send", { form: { screenname: "nat", text: unique("hey @MIA") } });
  await request.post("/api/send", { form: { screenname: "nat", text: unique("no mention") } });
  await expect(page).toHaveTitle(/^\(\d+ · @1\) #general · Chat$/, { timeout: 30_000 });
});

test("the page counts characters as the server does (in NFC)", async ({ page }) => {
  await openChat(page);
  // U+0958 is one character as typed and two in NFC: 60 of them are 120 characters.
  const sends: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/send")) sends.push(r.url());
  });
  await post(page, "nfc-reader", "\u0958".repeat(60));
  await expect(page.locator("#form-error")).toHaveText(
    "Message is 120 characters long; the limit is 100.",
  );
  expect(sends).toEqual([]);
});

test("right-to-left lines read in their direction, names isolated and shown whole", async ({ page, request }) => {
  await openChat(page);
  const tag = unique("rtl");
  const name = "a-very-long-screen-name-of-forty-chars!!".slice(0, 40);
  const res = await request.post("/api/send", { form: { screenname: name, text: `שלום, מה שלומך? ${tag}` } });
  expect(res.status()).toBe(200);
  const line = page.locator("#chatbox .line", { hasText: tag });
  await expect(line.locator(".text")).toHaveAttribute("dir", "auto");
  const shown = line.locator("bdi.name");
  await expect(shown).toHaveText(name);
  await expect(shown).toHaveAttribute("title", name);
  await expect(page.locator("#chatbox")).toHaveAttribute("role", "region");
  await expect(page.locator('meta[name="description"]')).toHaveCount(1);
});
