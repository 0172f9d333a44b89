import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The repository root: cargo-leptos runs these tests in end2end/. */
const ROOT = path.resolve(__dirname, "../..");
/** The release server cargo-leptos built for this run. */
const BINARY = path.join(ROOT, "target/release/server");

/**
 * A new, empty PostgreSQL database of a test's own: a schema on the server `.ci/pg-sandbox`
 * started around the tests (`make e2e` does), as a URL for `--database`.
 */
export function freshPostgres(): string {
  const url = process.env.CHAT_TEST_POSTGRES;
  if (!url) throw new Error("CHAT_TEST_POSTGRES is not set: run the tests through `make e2e`, which starts PostgreSQL");
  const schema = `e2e_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const made = spawnSync("psql", [url, "-qAtc", `CREATE SCHEMA ${schema}`], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`psql could not make a schema: ${made.stderr}`);
  return `${url}?options=-csearch_path%3D${schema}`;
}

/** A chat server of a test's own, for tests that stop and start it. */
export class OwnServer {
  private process?: ChildProcess;
  readonly database: string;

  /** On `database` (a SQLite path or a PostgreSQL URL), or a new SQLite file. */
  constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
    database?: string,
  ) {
    this.database = database ?? path.join(mkdtempSync(path.join(tmpdir(), "chat-e2e-")), "chat.sqlite3");
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
