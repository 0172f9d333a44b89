import { expect, type Page, type APIRequestContext } from "@playwright/test";

/** A text no other test (or earlier run) has used. */
export function unique(label: string): string {
  return `${label} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
}

/** Waits until the wasm has hydrated the page (seconds on a busy machine). */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1, { timeout: 30_000 });
}

/** Opens `/` and waits until the wasm has hydrated it. */
export async function openChat(page: Page): Promise<void> {
  await page.goto("/");
  await hydrated(page);
}

/** Posts a line through the form, as a person would. */
export async function post(page: Page, screenname: string, text: string): Promise<void> {
  await page.getByLabel("Screen name", { exact: true }).fill(screenname);
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Message", { exact: true }).press("Enter");
}

/** All stored lines whose text is `text`, read through the API. */
export async function storedWithText(request: APIRequestContext, text: string) {
  const found = [];
  let after = 0;
  for (;;) {
    const res = await request.get(`/api/lines?after=${after}&limit=500`);
    expect(res.status()).toBe(200);
    const batch = await res.json();
    found.push(...batch.lines.filter((l: { text: string }) => l.text === text));
    if (batch.lines.length < 500) return found;
    after = batch.cursor;
  }
}

/** Posts a line through the API (another reader) and waits until `page` shows it: the polls
 * that follow whatever the test did have run. */
export async function anotherLineShown(page: Page, request: APIRequestContext): Promise<void> {
  const text = unique("from elsewhere");
  const res = await request.post("/api/send", { form: { screenname: "other", text } });
  expect(res.status()).toBe(200);
  await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
}
