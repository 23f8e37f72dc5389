import { hostname } from "node:os";
import { MAX_LEASE_TTL_MS } from "../../contract/lease.js";
import { join, resolve } from "node:path";
import { Option, type Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { MAX_USER_TTL_SECONDS } from "../../accounts/claims.js";
import { git } from "../../git/exec.js";
import { refuseTrackedKeys } from "../../git/ignored-folder.js";
import { resolveCommit } from "../../git/revision.js";
import { ResolverClient } from "../../accounts/resolver.js";
import { NatsAccountOps } from "../../reconciler/account-ops.js";
import type { Provisioner } from "../../provision/provisioner.js";
import { provisionerFromFlags, type ProvisionerFlags } from "./provisioner-flags.js";
import { LocalRefSource, RemoteRefSource, type RefSource } from "../../git/watch.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import { startTracing } from "../../telemetry/tracing.js";
import { packageVersion } from "../../util/package-root.js";
import { parseDuration } from "../../manifests/durations.js";
import { serveProbes, type ProbeTarget } from "../../telemetry/probes.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import { processTelemetry } from "../telemetry.js";
import { parseListen, type ListenAddress } from "../../util/listen-address.js";
import { Reconciler } from "../../reconciler/reconciler.js";
import { parseReplicas, type ReplicasSetting } from "../../nats/replication.js";
import { secretSource } from "../../secrets/sources.js";
import { VrskyError } from "../../errors/errors.js";
import type { CliContext } from "../context.js";
import { commandLog, type EventLog } from "../log/event-log.js";
import { watchSignals, type SignalWatch } from "../signals.js";

export interface ReconcileFlags extends ProvisionerFlags {
  repo: string;
  branch: string;
  remote?: string;
  fetchInterval: string;
  nats: string;
  creds?: string;
  once: boolean;
  resync: string;
  leaseTtl: string;
  maxDeleteShare: string;
  /** Default "0.5". */
  maxDeleteIntegrationShare?: string;
  allowPrune: boolean;
  id?: string;
  listen?: string;
  dataPlane?: string;
  keys?: string;
  workerCredsTtl: string;
  /** `<dir>/<tenant>/<name>` secret files (checked before the repository's sealed secrets). */
  secretsDir?: string;
  /** False with --no-streams: leave integrations' streams alone. Default true. */
  streams?: boolean;
  /** `--replicas`: auto (default), 1, 3 or 5. */
  replicas?: string;
}

export function registerReconcile(program: Command, ctx: CliContext): void {
  program
    .command("reconcile")
    .description("Watch a git branch and make NATS KV hold exactly what its head commit says")
    .option("--repo <dir>", "local git repository (or where the mirror of --remote is kept)", ".")
    .option("--branch <name>", "branch to follow", "main")
    .option("--remote <url>", "follow a remote repository, fetched periodically")
    .option("--fetch-interval <duration>", "how often to fetch --remote", "30s")
    .requiredOption("--nats <url>", "NATS server URL(s), comma-separated")
    .option("--creds <file>", "NATS credentials file of the platform account (default with --keys: its platform.creds)")
    .option("--keys <dir>", "operator keys from `vrsky init`: manage tenant NATS accounts (operator mode)")
    .option("--once", "run one reconcile and exit (exit 1 if it did not apply)", false)
    .option("--resync <duration>", "period of the full resync (at least 1s)", "60s")
    .option("--lease-ttl <duration>", "leader lease duration, at least 1s; a standby takes over after it expires", "5s")
    .option("--max-delete-share <fraction>", "largest share of tenants one run may delete", "0.5")
    .option(
      "--max-delete-integration-share <fraction>",
      "largest share of integrations one run may delete from tenants that stay",
      "0.5",
    )
    .option(
      "--allow-prune",
      "allow this process to exceed --max-delete-share and --max-delete-integration-share",
      false,
    )
    .option("--id <id>", "reconciler id (default: host name and pid)")
    .option(
      "--listen <addr>",
      "serve /healthz, /readyz and /metrics on host:port, [ipv6]:port, :port (every interface) or port (loopback)",
    )
    .option("--state-dir <dir>", "local folder for the remote mirror and local tenant instances", ".vrsky")
    .option(
      "--data-plane <urls>",
      "client URLs of the shared data-plane servers, published in discovery (default: --nats)",
    )
    .addOption(
      new Option("--provisioner <kind>", "how dedicated tenants' NATS instances run")
        .choices(["none", "local", "kubernetes"])
        .default("none"),
    )
    .option(
      "--worker-creds-ttl <duration>",
      "lifetime of the per-tenant users issued to workers (with --keys); renewed at 2/3 of it",
      "15m",
    )
    .option("--namespace <ns>", "Kubernetes namespace for tenant instances (--provisioner kubernetes)", "vrsky")
    .option(
      "--kubeconfig <file>",
      "kubeconfig of the cluster (--provisioner kubernetes; default $KUBECONFIG, ~/.kube/config, else the pod's service account)",
    )
    .option(
      "--storage-size <quantity>",
      "a PersistentVolumeClaim of this size per tenant instance for JetStream, e.g. 10Gi (default: emptyDir, lost with the pod)",
    )
    .option("--storage-class <name>", "StorageClass of those claims (default: the cluster's default class)")
    .option(
      "--nats-image <image>",
      "nats-server image of tenant instances (--provisioner kubernetes; default nats:2.10-alpine)",
    )
    .option(
      "--secrets-dir <dir>",
      "secrets as files <dir>/<tenant>/<name>, to check integrations' secretRefs (with --keys, the repository's sealed secrets too)",
    )
    .option("--no-streams", "do not create or delete integrations' streams (a control plane without a data plane)")
    .option(
      "--replicas <n>",
      "copies JetStream keeps of every bucket and stream this process creates: auto (3 on a cluster of 3 or more servers, else 1), 1, 3 or 5",
      "auto",
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 stopped cleanly (or --once applied), 1 --once did not apply, 2 usage or environment error\n" +
        "(with --once: another reconciler leads, or the branch does not exist).",
    )
    .action(async (flags: ReconcileFlags) => {
      ctx.exitCode = await runReconcile(flags, ctx);
    });
}

/** A duration flag in ms; VRS_USAGE when it is not a duration or is below `minMs` (then named as `min`). */
export function durationFlag(name: string, value: string, min?: { ms: number; text: string }): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new VrskyError("VRS_USAGE", `${name} '${value}' is not a duration (e.g. 500ms, 30s, 5m)`);
  if (min && ms < min.ms) throw new VrskyError("VRS_USAGE", `${name} must be at least ${min.text}, not '${value}'`);
  return ms;
}

/**
 * The least --lease-ttl: the leader renews every third of it and stops leading a grace (a fifth) before it ends, so
 * a shorter lease is lost to one slow KV write or GC pause and leadership flaps.
 */
export const MIN_LEASE_TTL = { ms: 1_000, text: "1s" };
/** The least --resync: a full resync re-reads the whole live state; more often than every second is a busy loop. */
export const MIN_RESYNC = { ms: 1_000, text: "1s" };

/** Serves /healthz, /readyz and /metrics on the --listen address (checked with the flags); VRS_LISTEN_FAILED when it cannot. */
export async function listenFlag(
  target: ProbeTarget,
  telemetry: Telemetry,
  addr: ListenAddress,
): Promise<Awaited<ReturnType<typeof serveProbes>>> {
  return serveProbes(target, telemetry, addr, "--listen");
}

export interface ReconcileHooks {
  /** Called once the reconciler runs (not with --once). */
  onReady?: (r: Reconciler) => void | Promise<void>;
  /** Called on SIGINT/SIGTERM before the reconciler stops (e.g. to drain an in-process worker while a leader still runs). */
  beforeStop?: () => Promise<void>;
  /** The process's metrics, shared with the caller's own components (`vrsky up`); default: the reconciler's own. */
  telemetry?: Telemetry;
}

export async function runReconcile(
  flags: ReconcileFlags,
  ctx: CliContext,
  hooks: ReconcileHooks = {},
): Promise<number> {
  // Every flag is checked before any I/O: a usage error must not leave a connection or process behind.
  const resyncMs = durationFlag("--resync", flags.resync, MIN_RESYNC);
  const leaseTtlMs = durationFlag("--lease-ttl", flags.leaseTtl, MIN_LEASE_TTL);
  if (leaseTtlMs > MAX_LEASE_TTL_MS)
    throw new VrskyError(
      "VRS_USAGE",
      `--lease-ttl must be at most 10m (the longest lease other reconcilers honour), not '${flags.leaseTtl}'`,
    );
  const fetchIntervalMs = durationFlag("--fetch-interval", flags.fetchInterval);
  const workerCredsTtlMs = durationFlag("--worker-creds-ttl", flags.workerCredsTtl ?? "15m");
  if (workerCredsTtlMs < 3_000 || workerCredsTtlMs > MAX_USER_TTL_SECONDS * 1000)
    throw new VrskyError("VRS_USAGE", `--worker-creds-ttl must be from 3s to 30d, not '${flags.workerCredsTtl}'`);
  const share = Number(flags.maxDeleteShare);
  if (!(share >= 0 && share <= 1))
    throw new VrskyError("VRS_USAGE", `--max-delete-share must be between 0 and 1, not '${flags.maxDeleteShare}'`);
  const listen = flags.listen !== undefined ? parseListen(flags.listen, "--listen") : undefined;
  const makeProvisioner = provisionerFromFlags(flags);
  const replicas = parseReplicas(flags.replicas ?? "auto");
  const log = commandLog(ctx, "reconciler");
  const keys = flags.keys ? loadKeys(flags.keys) : undefined;
  const creds = platformCredsFile(flags.creds, keys);
  const integrationShare = Number(flags.maxDeleteIntegrationShare ?? "0.5");
  if (!(integrationShare >= 0 && integrationShare <= 1))
    throw new VrskyError(
      "VRS_USAGE",
      `--max-delete-integration-share must be between 0 and 1, not '${flags.maxDeleteIntegrationShare}'`,
    );
  const source: RefSource = flags.remote
    ? new RemoteRefSource(flags.remote, resolve(flags.stateDir, "mirror.git"), flags.branch, fetchIntervalMs)
    : new LocalRefSource(resolve(flags.repo), flags.branch);
  if (!flags.remote && (await git(resolve(flags.repo), ["rev-parse", "--git-dir"])).code !== 0) {
    throw new VrskyError("VRS_GIT_NOT_A_REPO", `${resolve(flags.repo)} is not a git repository`);
  }
  if (flags.keys) await refuseTrackedKeys(flags.keys);
  // One run of a branch that is not there can only fail: say so before connecting (a long-running reconciler waits).
  if (
    flags.once &&
    !flags.remote &&
    (await resolveCommit(resolve(flags.repo), source.ref).catch(() => undefined)) === undefined
  )
    throw new VrskyError(
      "VRS_GIT_BAD_REF",
      `branch '${flags.branch}' does not exist in ${resolve(flags.repo)}: check --branch`,
    );
  // Before any I/O: a signal from now on stops the reconciler gracefully, even one that arrives while it connects.
  const signals = flags.once ? undefined : watchSignals();
  try {
    return await reconcileWith(flags, ctx, hooks, {
      source,
      resyncMs,
      leaseTtlMs,
      workerCredsTtlMs,
      share,
      integrationShare,
      listen,
      signals,
      keys,
      creds,
      log,
      makeProvisioner,
      replicas,
    });
  } finally {
    signals?.stop();
  }
}

interface Checked {
  source: RefSource;
  resyncMs: number;
  leaseTtlMs: number;
  workerCredsTtlMs: number;
  share: number;
  integrationShare: number;
  listen: ListenAddress | undefined;
  signals: SignalWatch | undefined;
  keys: ReturnType<typeof loadKeys> | undefined;
  creds: string | undefined;
  log: EventLog;
  makeProvisioner: (() => Provisioner) | undefined;
  replicas: ReplicasSetting;
}

async function reconcileWith(
  flags: ReconcileFlags,
  ctx: CliContext,
  hooks: ReconcileHooks,
  {
    source,
    resyncMs,
    leaseTtlMs,
    workerCredsTtlMs,
    share,
    integrationShare,
    listen,
    signals,
    keys,
    creds,
    log,
    makeProvisioner,
    replicas,
  }: Checked,
): Promise<number> {
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  // A folder of secret files first; with the operator keys, the age-sealed files of the repository at the revision.
  const secrets =
    flags.secretsDir || flags.keys
      ? secretSource({
          secretsDir: flags.secretsDir ? resolve(flags.secretsDir) : undefined,
          repo: source.repo,
          keysDir: flags.keys ? resolve(flags.keys) : undefined,
        })
      : undefined;
  const nc = await connectNats({
    url: flags.nats,
    creds,
    name: `vrsky-reconciler-${id}`,
    jetstream: true,
  });
  const sharedServers = (flags.dataPlane ?? flags.nats).split(",");
  const resolver = keys
    ? await ResolverClient.connect(keys, flags.nats.split(",")).catch(async (e: unknown) => {
        await nc.close();
        throw e;
      })
    : undefined;
  const provisioner = makeProvisioner?.();
  const telemetry = hooks.telemetry ?? processTelemetry();
  const tracing = startTracing({ service: "vrsky-reconciler", version: packageVersion() });
  const reconciler = new Reconciler({
    nc,
    source,
    branch: flags.branch,
    id,
    resyncMs,
    leaseTtlMs,
    maxDeleteShare: share,
    maxDeleteIntegrationShare: integrationShare,
    allowPrune: flags.allowPrune,
    sharedServers,
    provisioner,
    workerCreds: keys ? { keys, ttlMs: workerCredsTtlMs } : undefined,
    keys,
    secrets,
    streams: flags.streams ?? true,
    jetstreamReplicas: replicas,
    accounts:
      keys && resolver
        ? (b, l) => new NatsAccountOps(keys, resolver, b.accounts, sharedServers, b.revocations, l)
        : undefined,
    meter: telemetry.meter,
    log,
    tracer: tracing.tracer,
  });
  let probes: Awaited<ReturnType<typeof serveProbes>> | undefined;
  try {
    if (flags.once) {
      const run = await reconciler.runOnce();
      // No revision: the branch could not be read (a remote without it, a repository gone): not a finding.
      if (run.outcome === "Failed" && run.revision === "")
        throw new VrskyError("VRS_GIT_BAD_REF", `cannot read branch '${flags.branch}': ${run.message}`);
      ctx.stdout.write(
        `${run.outcome}: ${run.message} (revision ${run.revision.slice(0, 12)}, ${run.durationMs} ms)\n`,
      );
      return run.outcome === "Applied" || run.outcome === "NoChange" ? 0 : 1;
    }
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") log(`nats-${s.type}`, {});
      }
    })();
    // Before starting: an address in use must not leave a running reconciler behind.
    probes = listen ? await listenFlag(reconciler, telemetry, listen) : undefined;
    if (probes) log("listening", { url: probes.url });
    if (signals?.received) {
      log("stopping", { signal: signals.received });
      return 0; // stopped before it started: nothing to give up
    }
    await reconciler.start();
    await hooks.onReady?.(reconciler);
    const signal = await signals!.signal;
    log("stopping", { signal });
    await hooks.beforeStop?.();
    await reconciler.stop();
    return 0;
  } finally {
    probes?.server.close();
    await provisioner?.close();
    await resolver?.close().catch(() => undefined);
    await closeNats(nc);
    await tracing.shutdown();
    if (!hooks.telemetry) await telemetry.shutdown();
  }
}

export const DEFAULT_STATE_DIR = join(".vrsky");
