import { test, expect } from "@playwright/test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { hydrated, post, unique } from "./helpers";
import { OwnServer, freshPostgres } from "./server";

const ROOT = path.resolve(__dirname, "../..");

/** The nginx configuration the README documents, as written there. */
function documentedConfig(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = readme.match(/```nginx\n([\s\S]*?)```/);
  if (!block) throw new Error("README.md has no nginx block");
  return block[1];
}

/** Debian's nginx on its own prefix and config: the README's block, pointed at `upstreams`. */
class Nginx {
  private process?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly upstreams: [number, number],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const prefix = mkdtempSync(path.join(tmpdir(), "chat-nginx-"));
    mkdirSync(path.join(prefix, "logs"));
    const [a, b] = this.upstreams;
    const site = documentedConfig()
      .replace("server 127.0.0.1:3000;", `server 127.0.0.1:${a};`)
      .replace("server 127.0.0.1:3002;", `server 127.0.0.1:${b};`)
      .replace("listen 80;", `listen 127.0.0.1:${this.port};`);
    expect(site).toContain(`server 127.0.0.1:${a};`);
    expect(site).toContain(`server 127.0.0.1:${b};`);
    const conf = `
      worker_processes 1;
      pid ${prefix}/nginx.pid;
      error_log ${prefix}/logs/error.log warn;
      events { worker_connections 256; }
      http {
        access_log off;
        client_body_temp_path ${prefix}/body;
        proxy_temp_path ${prefix}/proxy;
        fastcgi_temp_path ${prefix}/fastcgi;
        uwsgi_temp_path ${prefix}/uwsgi;
        scgi_temp_path ${prefix}/scgi;
        ${site}
      }`;
    writeFileSync(path.join(prefix, "nginx.conf"), conf);
    this.process = spawn("/usr/sbin/nginx", ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-g", "daemon off;"], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) throw new Error(`nginx exited with ${this.process.exitCode}`);
      try {
        if ((await fetch(`${this.url}/livez`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("nginx did not start within 20 s");
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

test("the documented nginx lets idle upstream connections go before the server closes them", () => {
  const upstream = documentedConfig().match(/upstream chat \{([\s\S]*?)\n\}/);
  expect(upstream).not.toBeNull();
  const kept = upstream![1].match(/^\s*keepalive_timeout (\d+)s;/m);
  expect(kept, "keepalive_timeout in the upstream block").not.toBeNull();
  // The server closes a connection idle for --header-read-timeout (default 10 s).
  const help = spawnSync(path.join(ROOT, "target/release/server"), ["--help"], { encoding: "utf8" });
  const idle = help.stdout.match(/--header-read-timeout[\s\S]*?\[default: (\d+)\]/);
  expect(idle, "the server's idle close in its --help").not.toBeNull();
  expect(Number(kept![1])).toBeLessThan(Number(idle![1]));
});

test("behind the documented nginx, two servers on one PostgreSQL: the page, held polls, per-client limits, hosts and draining", async ({ browser, request }) => {
  test.setTimeout(120_000);
  const w = test.info().workerIndex;
  const database = freshPostgres();
  const args = [
    "--trusted-proxy", "127.0.0.1",
    "--rate-limit-exempt", "192.0.2.255",
    "--post-rate", "1",
    "--post-burst", "2",
    "--drain-seconds", "10",
  ];
  const chat = new OwnServer(3400 + w, args, database);
  const other = new OwnServer(3420 + w, args, database);
  const nginx = new Nginx(3410 + w, [3400 + w, 3420 + w]);
  await chat.start();
  await other.start();
  await nginx.start();
  try {
    // The page loads and hydrates through the proxy, and its held poll delivers.
    const page = await (await browser.newContext({ baseURL: nginx.url, extraHTTPHeaders: { "X-Forwarded-For": "198.51.100.1" } })).newPage();
    // Watched from before the page loads: the held poll may start before hydration is seen.
    const held = page.waitForRequest((req) => /\/api\/lines\?.*wait=25/.test(req.url()));
    await page.goto("/");
    await hydrated(page);
    await held;
    const text = unique("through the proxy");
    const sent = await request.post(`${nginx.url}/api/send`, {
      form: { screenname: "pat", text },
      headers: { "X-Forwarded-For": "198.51.100.2" },
    });
    expect(sent.status()).toBe(200);
    expect(sent.headers()["x-request-id"]).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id
    await expect(page.locator("#chatbox .line .text", { hasText: text })).toHaveCount(1);
    // A same-origin post from the page goes through (Origin and the proxied Host agree).
    await post(page, "pat", unique("from the page"));
    await expect(page.getByLabel("Message", { exact: true })).toHaveValue("");

    // The post limit is per forwarded client, and per server behind round robin: a burst of 2
    // on each of the two servers, so of 5 posts one server gets 3 and refuses one. Another
    // client is not limited.
    const postAs = (client: string) =>
      request.post(`${nginx.url}/api/send`, {
        form: { screenname: "lim", text: unique("limited") },
        headers: { "X-Forwarded-For": client },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await postAs("203.0.113.7")).status());
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses).toContain(429);
    expect((await postAs("203.0.113.8")).status()).toBe(200);

    // Cross-site posts and other host names are refused through the proxy too.
    const crossSite = await request.post(`${nginx.url}/api/send`, {
      form: { screenname: "eve", text: "hi" },
      headers: { Origin: "https://evil.example", "X-Forwarded-For": "203.0.113.9" },
    });
    expect(crossSite.status()).toBe(403);
    const rebinding = await request.get(`${nginx.url}/api/lines`, { headers: { Host: "rebind.attacker.example" } });
    expect(rebinding.status()).toBe(421);

    // A draining server turns /readyz to 503 (the balancer's cue) while still serving; once
    // it has gone, the other serves everything, the lines posted through either included.
    expect((await request.get(`${nginx.url}/readyz`)).status()).toBe(200);
    const stopping = chat.stop();
    await expect.poll(async () => (await request.get(`${nginx.url}/readyz`)).status()).toBe(503);
    expect((await request.get(`${nginx.url}/api/lines?after=0`)).status()).toBe(200);
    await stopping;
    for (let i = 0; i < 4; i++) {
      const lines = await request.get(`${nginx.url}/api/lines?after=0&limit=500`);
      expect(lines.status()).toBe(200);
      expect((await lines.json()).lines.map((l: { text: string }) => l.text)).toContain(text);
    }
  } finally {
    await nginx.stop();
    await chat.stop();
    await other.stop();
  }
});
