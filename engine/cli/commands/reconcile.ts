import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { Option, type Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { git } from "../../git/exec.js";
import { refuseTrackedKeys } from "../../git/ignored-folder.js";
import { ResolverClient } from "../../accounts/resolver.js";
import { NatsAccountOps } from "../../reconciler/account-ops.js";
import { KubernetesProvisioner } from "../../provision/kubernetes.js";
import { LocalProcessProvisioner } from "../../provision/local.js";
import type { Provisioner } from "../../provision/provisioner.js";
import { LocalRefSource, RemoteRefSource, type RefSource } from "../../git/watch.js";
import { connectNats } from "../../nats/connect.js";
import { parseDuration } from "../../manifests/durations.js";
import { serveProbes, type ProbeTarget } from "../../telemetry/probes.js";
import { Reconciler } from "../../reconciler/reconciler.js";
import { secretSource } from "../../secrets/sources.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import type { CliContext } from "../context.js";
import { jsonLog } from "../output.js";
import { waitForSignal } from "../signals.js";

export interface ReconcileFlags {
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
  stateDir: string;
  dataPlane?: string;
  provisioner: "none" | "local" | "kubernetes";
  namespace: string;
  keys?: string;
  workerCredsTtl: string;
  /** `<dir>/<tenant>/<name>` secret files (checked before the repository's sealed secrets). */
  secretsDir?: string;
  /** False with --no-streams: leave integrations' streams alone. Default true. */
  streams?: boolean;
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
    .option("--resync <duration>", "period of the full resync", "60s")
    .option("--lease-ttl <duration>", "leader lease duration; a standby takes over after it expires", "5s")
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
    .option("--listen <addr>", "serve /healthz, /readyz and /metrics on this address (e.g. 127.0.0.1:9464)")
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
      "--secrets-dir <dir>",
      "secrets as files <dir>/<tenant>/<name>, to check integrations' secretRefs (with --keys, the repository's sealed secrets too)",
    )
    .option("--no-streams", "do not create or delete integrations' streams (a control plane without a data plane)")
    .addHelpText(
      "after",
      "\nExit codes: 0 stopped cleanly (or --once applied), 1 --once did not apply, 2 usage or environment error.",
    )
    .action(async (flags: ReconcileFlags) => {
      ctx.exitCode = await runReconcile(flags, ctx);
    });
}

export function durationFlag(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new VrskyError("VRS_USAGE", `${name} '${value}' is not a duration (e.g. 500ms, 30s, 5m)`);
  return ms;
}

/** Serves /healthz, /readyz and /metrics on the --listen address; VRS_LISTEN_FAILED when it cannot. */
export async function listenFlag(target: ProbeTarget, addr: string): Promise<Awaited<ReturnType<typeof serveProbes>>> {
  try {
    return await serveProbes(target, addr);
  } catch (e) {
    throw new VrskyError("VRS_LISTEN_FAILED", `cannot serve --listen ${addr}: ${errorMessage(e)}`, { cause: e });
  }
}

export interface ReconcileHooks {
  /** Called once the reconciler runs (not with --once). */
  onReady?: (r: Reconciler) => void | Promise<void>;
  /** Called on SIGINT/SIGTERM before the reconciler stops (e.g. to drain an in-process worker while a leader still runs). */
  beforeStop?: () => Promise<void>;
}

export async function runReconcile(
  flags: ReconcileFlags,
  ctx: CliContext,
  hooks: ReconcileHooks = {},
): Promise<number> {
  // Every flag is checked before any I/O: a usage error must not leave a connection or process behind.
  const resyncMs = durationFlag("--resync", flags.resync);
  const leaseTtlMs = durationFlag("--lease-ttl", flags.leaseTtl);
  const fetchIntervalMs = durationFlag("--fetch-interval", flags.fetchInterval);
  const workerCredsTtlMs = durationFlag("--worker-creds-ttl", flags.workerCredsTtl ?? "15m");
  if (workerCredsTtlMs < 3_000)
    throw new VrskyError("VRS_USAGE", `--worker-creds-ttl must be at least 3s, not '${flags.workerCredsTtl}'`);
  const share = Number(flags.maxDeleteShare);
  if (!(share >= 0 && share <= 1))
    throw new VrskyError("VRS_USAGE", `--max-delete-share must be between 0 and 1, not '${flags.maxDeleteShare}'`);
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
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  if (flags.keys) await refuseTrackedKeys(flags.keys);
  const keys = flags.keys ? loadKeys(flags.keys) : undefined;
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
    creds: flags.creds ?? keys?.files.platformCreds,
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
  const log = jsonLog(ctx);
  const provisioner: Provisioner | undefined =
    flags.provisioner === "local"
      ? new LocalProcessProvisioner(resolve(flags.stateDir, "instances"))
      : flags.provisioner === "kubernetes"
        ? new KubernetesProvisioner({ namespace: flags.namespace })
        : undefined;
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
    accounts:
      keys && resolver
        ? (b) => new NatsAccountOps(keys, resolver, b.accounts, sharedServers, b.revocations)
        : undefined,
    log,
  });
  let probes: Awaited<ReturnType<typeof serveProbes>> | undefined;
  try {
    if (flags.once) {
      const run = await reconciler.runOnce();
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
    // Before starting: a bad --listen address must not leave a running reconciler behind.
    probes = flags.listen ? await listenFlag(reconciler, flags.listen) : undefined;
    if (probes) log("listening", { url: probes.url });
    await reconciler.start();
    await hooks.onReady?.(reconciler);
    const signal = await waitForSignal();
    log("stopping", { signal });
    await hooks.beforeStop?.();
    await reconciler.stop();
    return 0;
  } finally {
    probes?.server.close();
    await provisioner?.close();
    await resolver?.close().catch(() => undefined);
    await nc.drain().catch(() => nc.close());
  }
}

export const DEFAULT_STATE_DIR = join(".vrsky");
