import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The repository root: cargo-leptos runs these tests in end2end/. */
const ROOT = path.resolve(__dirname, "../..");
/** The release server cargo-leptos built for this run. */
const BINARY = path.join(ROOT, "target/release/server");

/** A chat server of a test's own, for tests that stop and start it. */
export class OwnServer {
  private process?: ChildProcess;
  readonly database: string;

  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {
    this.database = path.join(mkdtempSync(path.join(tmpdir(), "chat-e2e-")), "chat.sqlite3");
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ["--addr", `127.0.0.1:${this.port}`, "--database", this.database, ...this.extraArgs];
    const child = spawn(BINARY, args, {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    this.process = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${BINARY} exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${this.url}/api/lines?after=0&limit=1`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the server on port ${this.port} did not start within 20 s`);
  }

  /** SIGTERM, and wait for the process to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}
