import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { identityInCreds, workerUser, type WorkerIdentity } from "../../accounts/worker-identity.js";
import { VrskyError } from "../../errors/errors.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import { DATA_PLANE_SAMPLE_RATIO, startTracing } from "../../telemetry/tracing.js";
import { packageVersion } from "../../util/package-root.js";
import { secretSource } from "../../secrets/sources.js";
import { isWorkerId } from "../../contract/keys.js";
import { parseLabels } from "../../worker/labels.js";
import { Worker } from "../../worker/worker.js";
import { parseReplicas, type ReplicasSetting } from "../../nats/replication.js";
import type { CliContext } from "../context.js";
import { commandLog, type EventLog } from "../log/event-log.js";
import { watchSignals, type SignalWatch } from "../signals.js";
import { parseListen, type ListenAddress } from "../../util/listen-address.js";
import { durationFlag, listenFlag } from "./reconcile.js";
import { processTelemetry } from "../telemetry.js";

export interface WorkerFlags {
  nats: string;
  creds?: string;
  keys?: string;
  id?: string;
  capacity: string;
  labels: string;
  heartbeat: string;
  expiry: string;
  drainTimeout: string;
  listen?: string;
  secretsDir?: string;
  repo?: string;
  allowPrivateSinks?: boolean;
  fileRoot?: string;
  traces?: boolean;
  /** `--replicas`: auto (default), 1, 3 or 5. */
  replicas?: string;
}

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command("worker")
    .description(
      "Run a worker: register with the platform, run the integration replicas assigned to it, hand them over on shutdown",
    )
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform, comma-separated")
    .option(
      "--creds <file>",
      "NATS credentials of the platform account: the worker's own, from vrsky creds --worker ID (operator mode)",
    )
    .option(
      "--keys <dir>",
      "key directory from vrsky init (uses its platform.creds; the worker makes its own identity)",
    )
    .option("--id <id>", "worker id, unique among workers (default: host name and pid)")
    .option("--capacity <n>", "most replicas this worker runs at once", "10")
    .option("--labels <k=v,...>", "labels for placement (dedicated tenants may be pinned to them)", "")
    .option("--heartbeat <duration>", "heartbeat period", "1s")
    .option("--expiry <duration>", "the worker is declared dead when no heartbeat arrived for this long", "5s")
    .option(
      "--drain-timeout <duration>",
      "on SIGTERM, how long to wait for replicas to be handed over; also how long a replica may drain before a hand-over or a restart with a new spec",
      "30s",
    )
    .option(
      "--listen <addr>",
      "serve /healthz, /readyz and /metrics on host:port, [ipv6]:port, :port (every interface) or port (loopback)",
    )
    .option("--secrets-dir <dir>", "secrets of the sinks as files <dir>/<tenant>/<name> (a mounted Kubernetes Secret)")
    .option(
      "--repo <dir>",
      "a clone of the configuration repository: sinks' secrets sealed in it (secrets/<tenant>/<name>.age), decrypted with --keys",
    )
    .option("--allow-private-sinks", "let HTTP sinks reach loopback, link-local and private addresses")
    .option(
      "--file-root <dir>",
      "where file sources and sinks may read and write: each tenant's under <dir>/<tenant>/ (without it they do not start)",
    )
    .option(
      "--replicas <n>",
      "copies JetStream keeps of every bucket and stream this process creates: auto (3 on a cluster of 3 or more servers, else 1), 1, 3 or 5",
      "auto",
    )
    .option("--no-traces", "write no message completions to the trace streams (retry records are still written)")
    .addHelpText(
      "after",
      "\nOn SIGTERM or Ctrl-C the worker drains: the leader moves its replicas to other workers, each is stopped and released\n" +
        "before its new worker starts it, then the worker deregisters. A second signal exits at once.\n" +
        "Exit codes: 0 stopped cleanly, 2 usage or environment error.",
    )
    .action(async (flags: WorkerFlags) => {
      ctx.exitCode = await runWorker(flags, ctx);
    });
}

export async function runWorker(flags: WorkerFlags, ctx: CliContext, onReady?: (w: Worker) => void): Promise<number> {
  const capacity = Number(flags.capacity);
  if (!/^\d+$/.test(flags.capacity) || !Number.isSafeInteger(capacity) || capacity < 1 || capacity > 100_000) {
    throw new VrskyError("VRS_USAGE", `--capacity must be a whole number from 1 to 100000, not '${flags.capacity}'`);
  }
  const labels = parseLabels(flags.labels);
  if (typeof labels === "string") throw new VrskyError("VRS_USAGE", `--labels: ${labels}`);
  const heartbeatMs = durationFlag("--heartbeat", flags.heartbeat);
  const expiryMs = durationFlag("--expiry", flags.expiry);
  const drainMs = durationFlag("--drain-timeout", flags.drainTimeout);
  if (heartbeatMs < 50 || expiryMs < 4 * heartbeatMs) {
    // The worker stops its replicas when heartbeats fail for expiry − max(expiry/3, 2 heartbeats): that must leave a heartbeat or more.
    throw new VrskyError(
      "VRS_USAGE",
      `--expiry (${flags.expiry}) must be at least 4 heartbeats (--heartbeat ${flags.heartbeat}), and the heartbeat at least 50ms`,
    );
  }
  // A worker's own creds (vrsky creds --worker ID) name its id; with the keys, the worker makes its identity itself.
  const keys = flags.keys ? loadKeys(flags.keys) : undefined;
  const creds = platformCredsFile(flags.creds, keys);
  const own = flags.creds !== undefined ? identityInCreds(flags.creds) : undefined;
  if (own && flags.id !== undefined && flags.id !== own.worker)
    throw new VrskyError(
      "VRS_USAGE",
      `--id '${flags.id}' differs from worker ${own.worker}, whose identity --creds ${flags.creds} holds: leave --id out or issue creds for it`,
    );
  // The default id must itself be a valid id: host names may hold dots.
  const id =
    flags.id ??
    own?.worker ??
    `${
      hostname()
        .replace(/[^a-z0-9_-]+/gi, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 100) || "worker"
    }-${process.pid}`;
  if (!isWorkerId(id)) {
    throw new VrskyError(
      "VRS_USAGE",
      `--id '${id}' must be letters, digits, '-' and '_' (a KV key), at most 128 characters`,
    );
  }
  if (flags.repo !== undefined && flags.keys === undefined) {
    throw new VrskyError(
      "VRS_USAGE",
      "--repo needs --keys: the key folder's secrets.agekey decrypts the sealed secrets",
    );
  }
  const listen = flags.listen !== undefined ? parseListen(flags.listen, "--listen") : undefined;
  const replicas = parseReplicas(flags.replicas ?? "auto");
  const secrets = secretSource({
    secretsDir: flags.secretsDir,
    ...(flags.repo !== undefined ? { repo: resolve(flags.repo), keysDir: flags.keys } : {}),
  });
  const log = commandLog(ctx, "worker");
  const identity = own ?? (keys ? workerUser(keys, id).identity : undefined);
  // Before any I/O: a signal from now on drains the worker, even one that arrives while it connects or registers.
  const signals = watchSignals();
  try {
    return await runChecked(
      flags,
      ctx,
      {
        id,
        capacity,
        labels,
        heartbeatMs,
        expiryMs,
        drainMs,
        listen,
        secrets,
        creds,
        identity,
        log,
        signals,
        replicas,
      },
      onReady,
    );
  } finally {
    signals.stop();
  }
}

interface CheckedWorker {
  id: string;
  capacity: number;
  labels: Record<string, string>;
  heartbeatMs: number;
  expiryMs: number;
  drainMs: number;
  listen: ListenAddress | undefined;
  secrets: ReturnType<typeof secretSource>;
  creds: string | undefined;
  /** The worker's own platform user (operator mode), signing its credentials requests. */
  identity: WorkerIdentity | undefined;
  log: EventLog;
  signals: SignalWatch;
  replicas: ReplicasSetting;
}

async function runChecked(
  flags: WorkerFlags,
  ctx: CliContext,
  c: CheckedWorker,
  onReady?: (w: Worker) => void,
): Promise<number> {
  const { id, capacity, labels, heartbeatMs, expiryMs, drainMs, listen, secrets, creds, identity, log, signals } = c;
  const nc = await connectNats({ url: flags.nats, creds, name: `vrsky-worker-${id}`, jetstream: true });
  const telemetry = processTelemetry();
  const tracing = startTracing({
    service: "vrsky-worker",
    version: packageVersion(),
    sampleRatio: DATA_PLANE_SAMPLE_RATIO,
  });
  const flow = {
    secrets,
    allowPrivateNetworks: flags.allowPrivateSinks === true,
    ...(flags.fileRoot !== undefined ? { fileRoot: resolve(flags.fileRoot) } : {}),
    traces: flags.traces !== false,
    tracer: tracing.tracer,
  };
  const worker = new Worker({
    nc,
    id,
    capacity,
    labels,
    heartbeatMs,
    expiryMs,
    drainTimeoutMs: drainMs,
    log,
    flow,
    jetstreamReplicas: c.replicas,
    ...(identity ? { identity } : {}),
    meter: telemetry.meter,
  });
  // Before registering: an address in use must not leave a registration behind.
  const probes = listen
    ? await listenFlag(worker, telemetry, listen).catch(async (e: unknown) => {
        await nc.close();
        throw e;
      })
    : undefined;
  if (probes) log("listening", { url: probes.url });
  try {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") log(`nats-${s.type}`, {});
      }
    })();
    if (signals.received) {
      log("stopping", { signal: signals.received });
      return 0; // stopped before it registered: nothing to hand over
    }
    await worker.start();
    onReady?.(worker);
    const signal = await signals.signal;
    log("stopping", { signal });
    await worker.drain();
    return 0;
  } finally {
    probes?.server.close();
    await worker.close();
    await closeNats(nc);
    await tracing.shutdown();
    await telemetry.shutdown();
  }
}
