/**
 * What the demos need on this machine, set up and taken down again: a private PostgreSQL with the demo tables,
 * stand-ins for Slack's incoming webhook and for a CRM's API, the secrets (files in a secrets folder, as a mounted
 * Kubernetes Secret would be), a scratch copy of the demo tenant's manifests (the private PostgreSQL's port
 * written in) committed in a git repository of its own, and `vrsky up` running on it. Everything is under one
 * temporary folder, removed by `close`.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { gitOk } from "../git/exec.js";
import { packageRoot } from "../util/package-root.js";
import { EngineProcess, type EngineInfo } from "./engine-process.js";
import { PostgresCluster } from "./postgres-cluster.js";
import { StandIn } from "./stand-in.js";

export const TENANT = "demo";

const TABLES = [
  "CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL, stock integer NOT NULL)",
  "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL)",
  `CREATE TABLE orders (id serial PRIMARY KEY, order_id text NOT NULL, customer text NOT NULL, total numeric(10,2) NOT NULL,
     inserted_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
];

export class DemoSession {
  readonly dir = mkdtempSync(join(tmpdir(), "vrsky-demo-"));
  readonly slack = new StandIn("Slack stand-in");
  readonly crm = new StandIn("CRM API stand-in");
  readonly db = new PostgresCluster({
    user: "vrsky",
    password: randomBytes(12).toString("hex"),
    database: "demo",
    superuserPassword: randomBytes(12).toString("hex"),
    prefix: "vrsky-demo-pg-",
  });
  readonly secrets: Record<string, string> = {
    "github-webhook-secret": randomBytes(20).toString("hex"),
    "shop-webhook-signing": randomBytes(20).toString("hex"),
  };
  engine?: EngineProcess;
  info?: EngineInfo;
  private dbStart?: Promise<unknown>;
  private closed = false;
  private closing?: Promise<void>;

  constructor(private readonly say: (line: string) => void) {}

  get repo(): string {
    return join(this.dir, "repo");
  }
  get data(): string {
    return join(this.dir, "data");
  }
  get logFile(): string {
    return join(this.dir, "vrsky-up.log");
  }
  /** `vrsky up --file-root`: file connectors work under <root>/<tenant>. */
  get filesDir(): string {
    return join(this.data, "files");
  }
  /** Where the demo tenant's file connectors work. */
  get fileRoot(): string {
    return join(this.filesDir, TENANT);
  }

  async open(): Promise<void> {
    this.say(`  working folder ${this.dir} (removed at the end)`);
    let t = Date.now();
    this.dbStart = this.db.start();
    await this.dbStart;
    this.check();
    for (const sql of TABLES) await this.db.query(sql);
    this.say(`  PostgreSQL  127.0.0.1:${this.db.port}, database demo, tables products, customers, orders (${secs(t)})`);
    await this.slack.start();
    await this.crm.start();
    this.check();
    this.say(`  stand-ins   Slack incoming webhook ${this.slack.url}, CRM API ${this.crm.url}`);
    this.writeSecrets();
    this.say(`  secrets     ${Object.keys(this.secrets).sort().join(", ")} in ${join(this.dir, "secrets", TENANT)}`);
    await this.writeRepo();
    this.say(`  repository  ${this.repo}: tenants/demo.yaml and integrations/demo/ (PostgreSQL port ${this.db.port})`);
    this.check();
    t = Date.now();
    this.engine = new EngineProcess({
      repo: this.repo,
      data: this.data,
      secretsDir: join(this.dir, "secrets"),
      fileRoot: this.filesDir,
      logFile: this.logFile,
    });
    this.info = await this.engine.start();
    await this.engine.waitForEvent((e) => e.event === "run" && e.outcome === "Applied", 60_000, "the first apply");
    this.say(`  vrsky up    running (${secs(t)}): NATS ${this.info.nats}, webhooks ${this.info.gateway}/t/demo/...`);
    this.say(`              its log: ${this.logFile}`);
  }

  /** Stops `open` once `close` has begun (Ctrl-C during the set-up). */
  private check(): void {
    if (this.closed) throw new Error("interrupted");
  }

  private writeSecrets(): void {
    Object.assign(this.secrets, {
      // Slack's webhook URL holds its token: the whole URL is the secret.
      "slack-webhook": `${this.slack.url}/services/T0DEMO/B0DEMO/demo-token`,
      "crm-api": `${this.crm.url}/v1/customer-events`,
      "demo-db": this.db.options.password,
    });
    const dir = join(this.dir, "secrets", TENANT);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const [name, value] of Object.entries(this.secrets)) writeFileSync(join(dir, name), value, { mode: 0o600 });
  }

  /** The demo tenant's manifests, with the private PostgreSQL's port and not suspended, committed on `main`. */
  private async writeRepo(): Promise<void> {
    const root = packageRoot();
    mkdirSync(join(this.repo, "tenants"), { recursive: true });
    mkdirSync(join(this.repo, "integrations", TENANT), { recursive: true });
    cpSync(join(root, "tenants", `${TENANT}.yaml`), join(this.repo, "tenants", `${TENANT}.yaml`));
    const from = join(root, "integrations", TENANT);
    for (const file of readdirSync(from).filter((f) => f.endsWith(".yaml") && !f.endsWith(".test.yaml"))) {
      const doc = parseDocument(readFileSync(join(from, file), "utf8"));
      // Suspended in the bundled repository for want of a database; here there is one.
      doc.deleteIn(["spec", "suspend"]);
      for (const path of [["spec", "source"], ...sinkPaths(doc.getIn(["spec", "sinks"]))]) {
        if (["postgres", "postgres-cdc"].includes(String(doc.getIn([...path, "type"]))))
          doc.setIn([...path, "config", "port"], this.db.port);
      }
      writeFileSync(join(this.repo, "integrations", TENANT, file), doc.toString());
    }
    const id = ["-c", "user.name=vrsky demo", "-c", "user.email=demo@vrsky.invalid", "-c", "commit.gpgsign=false"];
    await gitOk(this.repo, ["init", "-q", "-b", "main"]);
    await gitOk(this.repo, ["add", "-A"]);
    await gitOk(this.repo, [...id, "commit", "-q", "-m", "The demo tenant, on this machine's private PostgreSQL"]);
  }

  /** Stops and removes everything; safe to call more than once (at once too) and after a failed `open`. */
  close(): Promise<void> {
    this.closed = true;
    return (this.closing ??= this.takeDown());
  }

  private async takeDown(): Promise<void> {
    await this.engine?.stop();
    await this.slack.close();
    await this.crm.close();
    // A server being started (Ctrl-C during initdb or pg_ctl start) is waited for, then stopped.
    const started = this.dbStart;
    this.dbStart = undefined;
    if (started) {
      await started.catch(() => undefined);
      await this.db.cleanup();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** For a synchronous exit: kills what runs outside this process. */
  killNow(): void {
    this.engine?.killNow();
  }
}

function sinkPaths(sinks: unknown): Array<Array<string | number>> {
  const n = (sinks as { items?: unknown[] } | undefined)?.items?.length ?? 0;
  return Array.from({ length: n }, (_, i) => ["spec", "sinks", i]);
}

export function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
