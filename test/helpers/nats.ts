import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { VrskyKeys } from "../../engine/accounts/keys.js";
import type { ResolverClient } from "../../engine/accounts/resolver.js";
import { LocalNatsServer } from "../../engine/nats/local-server.js";
import { BUCKET_REGISTRY, type BucketId } from "../../engine/contract/buckets.js";
import { STATUS_KEYS } from "../../engine/contract/keys.js";
import type { StateRecord } from "../../engine/contract/state.js";
import { openBucket } from "../../engine/state/open.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { NatsAccountOps } from "../../engine/reconciler/account-ops.js";
import { Reconciler, type ReconcilerOptions } from "../../engine/reconciler/reconciler.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { TestRepo } from "./git-repo.js";
import { OperatorHarness } from "./operator.js";
import { killAll } from "./process.js";

/** A real nats-server with JetStream on a free port and a temporary store, started and stopped by the test. */
export class TestNats {
  readonly dir = mkdtempSync(join(tmpdir(), "vrsky-nats-"));
  server!: LocalNatsServer;
  private conns: NatsConnection[] = [];

  async start(port?: number): Promise<this> {
    this.server = await new LocalNatsServer({ dir: this.dir, port }).start();
    return this;
  }

  get url(): string {
    return this.server.url;
  }

  /** Restarts the server on the same port and store (a server restart, as an operator would do it). */
  async restart(): Promise<void> {
    await this.stop();
    await this.startAgain();
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }

  /** Starts the server again on the port and store it had. */
  async startAgain(): Promise<void> {
    this.server = await new LocalNatsServer({ dir: this.dir, port: this.server.port }).start();
  }

  /** A connection closed by `cleanup`; `options` add to or override the defaults. */
  async connect(options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    const nc = await connect({ servers: this.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...options });
    this.conns.push(nc);
    return nc;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
    await this.server?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Opens (or creates) a platform bucket; retries while JetStream comes back after a server restart. */
export async function bucket(nc: NatsConnection, name: BucketId): Promise<KV> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openBucket(nc, name);
    } catch (e) {
      if (attempt >= 40) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Empties the platform buckets between tests (they are created again on first use). */
export async function resetBuckets(nc: NatsConnection): Promise<void> {
  for (const b of Object.keys(BUCKET_REGISTRY) as BucketId[]) await (await bucket(nc, b)).destroy();
}

/** A sync-status predicate: the revision is observed and live state matches it. */
export function appliedAt(rev: string): (s: SyncStatus) => boolean {
  return (s) => s.observedRevision === rev && (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange");
}

/** Every live key of a bucket with its record (one watch snapshot; no keys() loops). */
export async function snapshot(kv: KV): Promise<Map<string, StateRecord>> {
  const out = new Map<string, StateRecord>();
  const st = await kv.status();
  if (st.values === 0) return out;
  const iter = await kv.watch({ key: ">" });
  for await (const e of iter) {
    if (e.operation === "PUT") out.set(e.key, e.json<StateRecord>());
    if (e.delta === 0) break;
  }
  iter.stop();
  return out;
}

/** Resolves with the first sync status that satisfies `pred`, watching the status key (no polling). */
export async function waitForSync(
  nc: NatsConnection,
  pred: (s: SyncStatus) => boolean,
  timeoutMs = 15_000,
): Promise<SyncStatus> {
  const kv = await bucket(nc, "status");
  const iter = await kv.watch({ key: STATUS_KEYS.sync });
  let last: SyncStatus | undefined;
  const timer = setTimeout(() => iter.stop(), timeoutMs);
  try {
    for await (const e of iter) {
      if (e.operation !== "PUT") continue;
      last = e.json<SyncStatus>();
      if (pred(last)) return last;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for sync status; last: ${JSON.stringify(last?.lastRun ?? null)}`,
  );
}

/** Last stream sequence of a bucket: how many writes it has seen in total. */
export async function lastSeq(kv: KV): Promise<number> {
  const st = await kv.status();
  return (st as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
}

export interface NatsFixtureOptions {
  /** Operator mode: a fresh key directory, tenant accounts through the resolver, and connect() as the platform account. */
  operator?: boolean;
  /** A fresh git repository for every test ("test") or one for the whole file ("file"); none by default. */
  repo?: "test" | "file";
  /** Empty the platform buckets before every test (default true). */
  resetBuckets?: boolean;
}

/**
 * The NATS set-up of a test file, from useNats(): one nats-server for the file (plain JetStream, or operator mode),
 * a connection of the test's own, optionally a git repository, and clean-up that runs whatever the outcome.
 */
export class NatsFixture {
  private plain: TestNats | undefined;
  private op: OperatorHarness | undefined;
  private testRepo: TestRepo | undefined;
  private ownNc: NatsConnection | undefined;
  private readonly conns: NatsConnection[] = [];
  private readonly fileCleanups: Array<() => unknown> = [];
  private readonly testCleanups: Array<() => unknown> = [];
  private inTest = false;

  constructor(private readonly o: NatsFixtureOptions) {}

  get server(): LocalNatsServer {
    return this.op?.server ?? this.plain!.server;
  }

  get url(): string {
    return this.server.url;
  }

  get port(): number {
    return this.server.port;
  }

  /** The test's own connection (the platform account in operator mode), open for the whole file. */
  get nc(): NatsConnection {
    if (!this.ownNc) throw new Error("the NATS fixture is not started yet: use it in hooks and tests");
    return this.ownNc;
  }

  /** The plain server, to restart it (not in operator mode). */
  get nats(): TestNats {
    if (!this.plain) throw new Error("no plain server: this fixture runs in operator mode");
    return this.plain;
  }

  /** Keys, resolver and tenant connections (operator mode only). */
  get operator(): OperatorHarness {
    if (!this.op) throw new Error("not in operator mode: useNats({ operator: true })");
    return this.op;
  }

  get keys(): VrskyKeys {
    return this.operator.keys;
  }

  get resolver(): ResolverClient {
    return this.operator.resolver;
  }

  get repo(): TestRepo {
    if (!this.testRepo) throw new Error("no repository: useNats({ repo: 'test' | 'file' })");
    return this.testRepo;
  }

  /** A new connection (platform account in operator mode) that reconnects for ever; closed after the file. */
  async connect(): Promise<NatsConnection> {
    const auth = this.op ? { authenticator: credsAuthenticator(readFileSync(this.op.keys.files.platformCreds)) } : {};
    const nc = await connect({ servers: this.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...auth });
    this.conns.push(nc);
    return nc;
  }

  /**
   * Runs `fn` at the end of the current scope, after the `vrsky` processes are killed and before the repository
   * is removed: after the test when called in a test or beforeEach, after the file when called in before. Last
   * in, first run.
   */
  defer(fn: () => unknown): void {
    (this.inTest ? this.testCleanups : this.fileCleanups).push(fn);
  }

  /**
   * An in-process reconciler (not started) following the fixture's repository on `main`, on a connection of its
   * own, with a 2 s lease; stopped after the test (or the file, when made in `before`). `accounts: true` gives it
   * tenant accounts through the operator-mode resolver, and the keys to reach them (the streams step). Other
   * options as given.
   */
  async reconciler(o: Partial<Omit<ReconcilerOptions, "accounts">> & { accounts?: boolean } = {}): Promise<Reconciler> {
    const { accounts, ...rest } = o;
    const r = new Reconciler({
      nc: await this.connect(),
      source: new LocalRefSource(this.repo.dir, "main"),
      branch: "main",
      id: "test",
      leaseTtlMs: 2_000,
      ...(accounts
        ? {
            accounts: (b, log) =>
              new NatsAccountOps(this.keys, this.resolver, b.accounts, [this.url], b.revocations, log),
            keys: this.keys,
          }
        : {}),
      ...rest,
    });
    this.defer(() => r.stop());
    return r;
  }

  async setUp(): Promise<void> {
    if (this.o.operator) this.op = await new OperatorHarness().start();
    else this.plain = await new TestNats().start();
    this.ownNc = await this.connect();
    if (this.o.repo === "file") this.testRepo = new TestRepo();
  }

  async beforeTest(): Promise<void> {
    this.inTest = true;
    if (this.o.repo === "test") this.testRepo = new TestRepo();
    if (this.o.resetBuckets ?? true) await resetBuckets(this.nc);
  }

  async afterTest(): Promise<void> {
    this.inTest = false;
    try {
      await killAll();
      await runAll(this.testCleanups);
    } finally {
      if (this.o.repo === "test") this.testRepo?.cleanup();
    }
  }

  async tearDown(): Promise<void> {
    try {
      await killAll();
      await runAll(this.fileCleanups);
    } finally {
      await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
      await this.op?.cleanup();
      await this.plain?.cleanup();
      this.testRepo?.cleanup();
    }
  }
}

/**
 * Registers a NatsFixture's mocha hooks in the calling describe: call it first there, so that its beforeEach
 * (fresh repository, empty buckets) runs before the file's own. Every `vrsky` process a test started is killed
 * after the test; connections, the server and its store go after the file.
 */
export function useNats(o: NatsFixtureOptions = {}): NatsFixture {
  const fx = new NatsFixture(o);
  before(() => fx.setUp());
  beforeEach(() => fx.beforeTest());
  afterEach(() => fx.afterTest());
  after(() => fx.tearDown());
  return fx;
}

/** Runs and removes every clean-up, last first; rethrows the first failure once all have run. */
async function runAll(fns: Array<() => unknown>): Promise<void> {
  let failure: unknown;
  while (fns.length > 0) {
    try {
      await fns.pop()!();
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
}
