import { defineConfig } from "@playwright/test";

// `cargo leptos end-to-end` starts the server and runs these tests at once: global-setup.ts
// waits until the server answers.
export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  // Upper bounds for a failing run on a busy machine, never figures a test relies on: a test
  // waits for events (a line shown, a poll answered), and these only end a wait that failed.
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: true,
  retries: 0,
  // Tests share one server; each uses lines of its own, so they may run side by side.
  workers: 2,
  // The JSON report lets `make e2e` check that the tests really ran: cargo-leptos can exit 0
  // when a build step fails without running them.
  reporter: [["list"], ["json", { outputFile: "../target/e2e/results.json" }]],
  use: {
    baseURL: process.env.CHAT_URL ?? "http://127.0.0.1:3000",
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        launchOptions: {
          // Debian's Chromium: Playwright's own browser download cannot work on these machines.
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      },
    },
  ],
});
