/**
 * The local multi-process topology of `npm run cluster` (docs/operations.md, "A local cluster"): a 3-server NATS
 * JetStream cluster on loopback in operator mode (keys as `vrsky up` makes them), and the engine as separate
 * `vrsky` processes, each as a user would run it (engine/demo/cli-process.ts): 2 reconcilers, 3 workers, a
 * gateway and the status API, following a git repository (the bundled examples), with `vrsky up`'s stand-in
 * receiver and demo secrets so that the examples' messages arrive. Every process leads its own process group:
 * `stop` ends them all, and `killNow` too when the runner has to leave at once.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { initKeys, KEY_FILES, loadKeys, type VrskyKeys } from "../accounts/keys.js";
import { startOperatorServer } from "../accounts/local.js";
import { localAdminKeyFile } from "../cli/commands/up-api.js";
import { startDemoReceiver, type DemoReceiver } from "../cli/demo-receiver.js";
import { ensureDemoSecrets, type DemoSecret } from "../cli/demo-secrets.js";
import { CliProcess } from "../demo/cli-process.js";
import { secs } from "../demo/session.js";
import { ensureIgnoredFolder, refuseTrackedKeys } from "../git/ignored-folder.js";
import { loadCommitted } from "../git/load-revision.js";
import { isIntegration } from "../model/resources.js";
import { closeNats, connectNats } from "../nats/connect.js";
import { clusterFormed, LocalNatsCluster } from "../nats/local-cluster.js";
import { LocalNatsServer } from "../nats/local-server.js";
import { secretSource } from "../secrets/sources.js";
import { parseListen } from "../util/listen-address.js";

export interface TopologyOptions {
  /** The git repository the reconcilers follow, and its branch. */
  repo: string;
  branch: string;
  /** Where keys, NATS stores, secrets, files and logs go. */
  data: string;
  /** `host:port` of the gateway and the API (port 0: a free one). */
  gatewayListen: string;
  apiListen: string;
  reconcilers?: number;
  workers?: number;
  /** Progress lines for the terminal. */
  say: (line: string) => void;
  /**
   * How worker `id` is run, given the flags it would get (the chaos runner puts one in a network namespace, with
   * other addresses): called once the receiver and the secrets exist. By default, as given.
   */
  launchWorker?: (id: string, args: string[]) => Promise<WorkerLaunch>;
}

/** A worker's command: its flags, and a command that runs it (engine/demo/cli-process.ts `prefix`). */
export interface WorkerLaunch {
  args: string[];
  prefix?: string[];
}

/** What a started topology serves. */
export interface TopologyInfo {
  nats: string;
  keys: string;
  gateway: string;
  api: string;
  adminKeyFile: string | undefined;
  receiver: string;
  secrets: DemoSecret[];
}

const START_MS = 90_000;

export class LocalTopology {
  readonly processes: CliProcess[] = [];
  cluster?: LocalNatsCluster;
  receiver?: DemoReceiver;
  info?: TopologyInfo;
  private readonly receiverWaiters = new Set<(line: string) => void>();
  private closing?: Promise<void>;
  private closed = false;

  constructor(readonly o: TopologyOptions) {}

  get data(): string {
    return resolve(this.o.data);
  }

  /** Starts everything and resolves once every process is up and the first reconcile applied. */
  async start(): Promise<TopologyInfo> {
    const { say } = this.o;
    // Checked here, before anything starts; the processes get the text.
    parseListen(this.o.gatewayListen, "--gateway-listen");
    parseListen(this.o.apiListen, "--api-listen");
    const keysDir = join(this.data, "keys");
    await refuseTrackedKeys(keysDir);
    ensureIgnoredFolder(this.data);
    if (!existsSync(join(keysDir, KEY_FILES.operatorSeed))) {
      initKeys(keysDir);
      say(`  keys        created operator keys in ${keysDir} (mode 0600, ignored by git)`);
    } else say(`  keys        ${keysDir}`);
    const keys = loadKeys(keysDir);
    LocalNatsServer.binary();

    let t = Date.now();
    this.cluster = new LocalNatsCluster({
      dir: join(this.data, "nats"),
      start: (o) => startOperatorServer(keys, o),
    });
    await this.cluster.start();
    this.check();
    const nats = this.cluster.url;
    await this.formed(keys, nats);
    say(`  nats        3 servers, cluster ${this.cluster.name}, JetStream ready (${secs(t)}): ${nats}`);

    this.receiver = await startDemoReceiver(parseListen("127.0.0.1:0", "--receiver-listen"), (line) => {
      say(`  ${line}`);
      for (const w of this.receiverWaiters) w(line);
    });
    const secretsDir = join(this.data, "secrets");
    const head = await loadCommitted(this.o.repo, this.o.branch);
    const secrets = await ensureDemoSecrets(secretsDir, head.state.resources.filter(isIntegration), this.receiver.url, {
      source: secretSource({ secretsDir, repo: this.o.repo, keysDir }),
      revision: head.revision,
    });
    say(`  receiver    ${this.receiver.url} (stand-in for the examples' outside services)`);
    for (const d of secrets)
      say(
        `  secret      ${d.tenant}/${d.name}: ${d.kind === "signing" ? "webhook signing secret" : "points at the stand-in receiver"} in ${d.file}`,
      );

    const common = ["--nats", nats, "--keys", keysDir];
    t = Date.now();
    const reconcilers = Array.from({ length: this.o.reconcilers ?? 2 }, (_, i) =>
      this.spawn(`reconciler r${i + 1}`, [
        ...["reconcile", ...common, "--repo", this.o.repo, "--branch", this.o.branch, "--id", `r${i + 1}`],
        ...["--state-dir", join(this.data, `r${i + 1}`), "--secrets-dir", secretsDir, "--listen", "127.0.0.1:0"],
        // Dedicated tenants' servers (globex) as local processes of the leader, as `vrsky up` runs them.
        ...["--provisioner", "local"],
      ]),
    );
    await Promise.all(
      reconcilers.map(async (p) => {
        const e = await p.waitForEvent(
          (x) => x.event === "leader" || x.event === "standby",
          START_MS,
          "leading or standing by",
        );
        say(`  ${p.o.name.padEnd(11)} up (${e.event === "leader" ? "leads" : "stands by"}), log ${p.o.logFile}`);
      }),
    );
    const workers: CliProcess[] = [];
    for (let i = 0; i < (this.o.workers ?? 3); i++) {
      const args = [
        ...["worker", ...common, "--id", `w${i + 1}`, "--capacity", "20", "--secrets-dir", secretsDir],
        ...["--file-root", join(this.data, "files"), "--allow-private-sinks", "--listen", "127.0.0.1:0"],
      ];
      const launch = this.o.launchWorker ? await this.o.launchWorker(`w${i + 1}`, args) : { args };
      workers.push(this.spawn(`worker w${i + 1}`, launch.args, launch.prefix));
    }
    const gateway = this.spawn("gateway", [
      "gateway",
      ...common,
      "--secrets-dir",
      secretsDir,
      "--listen",
      this.o.gatewayListen,
    ]);
    const adminKeyFile = localAdminKeyFile(this.data);
    const api = this.spawn("api", [
      ...["api", ...common, "--listen", this.o.apiListen, "--repo", this.o.repo, "--branch", this.o.branch],
      ...(adminKeyFile ? ["--admin-key-file", adminKeyFile] : []),
    ]);
    await Promise.all(
      workers.map(async (p) => {
        await p.waitForEvent((x) => x.event === "registered", START_MS, "registering");
        say(`  ${p.o.name.padEnd(11)} up (registered), log ${p.o.logFile}`);
      }),
    );
    const [gatewayUrl, apiUrl] = await Promise.all(
      [gateway, api].map(async (p) => {
        const e = await p.waitForEvent((x) => x.event === "ready", START_MS, "ready");
        say(`  ${p.o.name.padEnd(11)} up at ${String(e.url)}, log ${p.o.logFile}`);
        return String(e.url);
      }),
    );
    const run = await Promise.race(
      reconcilers.map((p) =>
        // Applied on a new data folder; NoChange when the state kept from an earlier start already matches.
        p.waitForEvent(
          (x) => x.event === "run" && (x.outcome === "Applied" || x.outcome === "NoChange"),
          START_MS,
          "the first reconcile",
        ),
      ),
    );
    say(
      `  reconciled  ${String(run.outcome)} ${String(run.revision).slice(0, 12)} of ${this.o.repo} (branch ${this.o.branch}) (${secs(t)})`,
    );
    this.info = {
      nats,
      keys: keysDir,
      gateway: gatewayUrl!,
      api: apiUrl!,
      adminKeyFile,
      receiver: this.receiver.url,
      secrets,
    };
    return this.info;
  }

  /** Waits until the cluster is routed and JetStream answers in the platform account. */
  private async formed(keys: VrskyKeys, nats: string): Promise<void> {
    let nc: NatsConnection | undefined;
    try {
      nc = await connectNats({ url: nats.split(",")[0]!, creds: keys.files.platformCreds, name: "vrsky-cluster" });
      await clusterFormed(nc, this.cluster!.servers.length, START_MS);
    } finally {
      if (nc) await closeNats(nc);
    }
  }

  private spawn(name: string, args: string[], prefix?: string[]): CliProcess {
    this.check();
    const logs = join(this.data, "logs");
    mkdirSync(logs, { recursive: true });
    // A process started again (respawn) logs to a file of its own: `<name>.2.log`, ...
    const life = this.processes.filter((p) => p.o.name === name).length + 1;
    const logFile = join(logs, `${name.replace(/ /g, "-")}${life > 1 ? `.${life}` : ""}.log`);
    const p = new CliProcess({ name, args, logFile, ...(prefix ? { prefix } : {}) });
    this.processes.push(p);
    p.start();
    return p;
  }

  /** The processes named `name` (`worker w1`), every life, oldest first. */
  lives(name: string): CliProcess[] {
    return this.processes.filter((p) => p.o.name === name);
  }

  /** Starts `p`'s command again as a new process (after it was killed), with a log file of its own. */
  respawn(p: CliProcess): CliProcess {
    return this.spawn(p.o.name, p.o.args, p.o.prefix);
  }

  /** Resolves with the first line the stand-in receiver prints from now on that `match` accepts. */
  receiverLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.receiverWaiters.delete(w);
        fail(new Error(`the stand-in receiver got nothing matching within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const w = (line: string) => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.receiverWaiters.delete(w);
        ok(line);
      };
      this.receiverWaiters.add(w);
    });
  }

  /** Stops `start` once `stop` has begun (Ctrl-C during the start). */
  private check(): void {
    if (this.closed) throw new Error("interrupted");
  }

  /**
   * Stops everything: the gateway and the API, the workers (they drain), the reconcilers, then NATS and the
   * receiver. Safe to call more than once (at once too) and after a failed `start`.
   */
  stop(): Promise<void> {
    this.closed = true;
    return (this.closing ??= this.takeDown());
  }

  private async takeDown(): Promise<void> {
    const named = (prefix: string) => this.processes.filter((p) => p.o.name.startsWith(prefix));
    await Promise.all([...named("gateway"), ...named("api")].map((p) => p.stop(15_000, "SIGTERM")));
    await Promise.all(named("worker").map((p) => p.stop(40_000, "SIGTERM")));
    await Promise.all(named("reconciler").map((p) => p.stop(15_000, "SIGTERM")));
    await this.cluster?.stop();
    await this.receiver?.close();
    // A reconciler stopped by SIGKILL (it did not stop in time) leaves its dedicated tenants' servers: not these.
    for (const pid of instanceServers(this.data)) killQuietly(pid);
  }

  /** For a synchronous exit: kills every process group and server at once. */
  killNow(): void {
    for (const p of this.processes) p.killNow();
    for (const s of this.cluster?.servers ?? []) if (s?.pid) killQuietly(s.pid);
    for (const pid of instanceServers(this.data)) killQuietly(pid);
  }
}

/**
 * The nats-servers of dedicated tenants that the reconcilers' local provisioners started under `<data>/r<n>/`
 * and that still run: found by their ports files (`nats-server_<pid>.ports`, engine/nats/local-server.ts), and
 * only when that process is a nats-server whose configuration is in that folder (a pid may have been reused).
 */
export function instanceServers(data: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(data, { recursive: true }).map(String);
  } catch {
    return out;
  }
  for (const f of entries) {
    const m = /^(r\d+\/instances\/.+)\/ports\/nats-server_(\d+)\.ports$/.exec(f);
    if (!m) continue;
    const pid = Number(m[2]);
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes("nats-server") && cmd.includes(join(data, m[1]!))) out.push(pid);
    } catch {
      // not running
    }
  }
  return out;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}
