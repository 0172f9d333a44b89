import { test, expect, type Browser } from "@playwright/test";
import { hydrated, post, unique } from "./helpers";
import { OwnServer } from "./server";

/** A browser of its own (its own cookies: its own identity), on the chat. */
async function reader(browser: Browser, url = "/") {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await hydrated(page);
  return page;
}

test("an edit and a deletion reach another browser within a second", async ({ browser }) => {
  const [writer, watcher] = [await reader(browser), await reader(browser)];
  const name = unique("ed").slice(0, 20);
  const said = unique("helo wrold");
  await post(writer, name, said);
  const mine = writer.locator("#chatbox .line", { hasText: said });
  const seen = watcher.locator("#chatbox .line", { hasText: said });
  await expect(seen).toHaveCount(1);
  // Only the poster is offered the actions.
  await expect(seen.getByText("Edit", { exact: true })).toHaveCount(0);

  // Edit on the line: Enter saves (a plain form: the writer's page comes back).
  await mine.getByText("Edit", { exact: true }).click();
  const fixed = unique("hello world");
  const field = mine.getByLabel("New text");
  await field.fill(fixed);
  await field.press("Enter");
  const edited = watcher.locator("#chatbox .line", { hasText: fixed });
  await expect(edited).toHaveCount(1, { timeout: 1_000 });
  await expect(edited.locator(".edited")).toHaveText("edited");
  await expect(edited.locator(".edited")).toHaveAttribute("title", /^Edited /);
  await expect(watcher.locator("#chatbox .line", { hasText: said })).toHaveCount(0);
  await hydrated(writer);
  const line = writer.locator("#chatbox .line", { hasText: fixed });
  await expect(line).toHaveCount(1);

  // Delete, confirmed: gone from both pages.
  await line.getByText("Delete", { exact: true }).click();
  await line.getByRole("button", { name: "Delete this line" }).click();
  await expect(watcher.locator("#chatbox .line", { hasText: fixed })).toHaveCount(0, { timeout: 1_000 });
  await hydrated(writer);
  await expect(writer.locator("#chatbox .line", { hasText: fixed })).toHaveCount(0);
});

test("without JavaScript, the poster deletes a line from a plain form", async ({ browser }) => {
  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await plain.goto("/");
  const name = unique("nojs").slice(0, 20);
  const said = unique("to be deleted");
  await plain.getByLabel("Screen name", { exact: true }).fill(name);
  await plain.getByLabel("Message", { exact: true }).fill(said);
  await plain.getByRole("button", { name: "Send" }).click();
  await plain.waitForURL((url) => url.pathname === "/");
  const line = plain.locator("#chatbox .line", { hasText: said });
  await expect(line).toHaveCount(1);
  await line.getByText("Delete", { exact: true }).click();
  await line.getByRole("button", { name: "Delete this line" }).click();
  await plain.waitForURL((url) => url.pathname === "/");
  await expect(plain.locator("#chatbox .line", { hasText: said })).toHaveCount(0);
});

test.describe("with names held", () => {
  const server = new OwnServer(3460, ["--name-hold-days", "90"]);
  test.beforeAll(async () => server.start());
  test.afterAll(async () => server.stop());

  test("a look-alike of a held name is refused beside the form", async ({ browser }) => {
    const first = await reader(browser, server.url);
    await post(first, "ann", unique("first"));
    await expect(first.locator("#chatbox .line .name", { hasText: "ann" })).toHaveCount(1);
    const second = await reader(browser, server.url);
    const text = unique("me too");
    await post(second, "\u0430nn", text);
    await expect(second.locator("#form-error")).toContainText("is taken");
    await expect(second.getByLabel("Message", { exact: true })).toHaveValue(text);
    // The holder's browser shows its names, and the other can sign in instead.
    await first.reload();
    await expect(first.locator(".account")).toContainText("Your names: ann");
  });
});
