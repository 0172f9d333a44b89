import type { FullConfig } from "@playwright/test";

// Waits for the server that `cargo leptos end-to-end` is starting (it does not wait itself).
export default async function globalSetup(config: FullConfig) {
  const base = config.projects[0].use.baseURL!;
  const deadline = Date.now() + 120_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/api/lines?after=0&limit=1`);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the chat server at ${base} did not answer within 120 s (${last})`);
}
