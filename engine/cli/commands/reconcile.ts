import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { LocalRefSource, RemoteRefSource, type RefSource } from "../../git/watch.js";
import { connectNats } from "../../nats/connect.js";
import { parseDuration } from "../../manifests/durations.js";
import { serveProbes } from "../../reconciler/http.js";
import { Reconciler } from "../../reconciler/reconciler.js";
import { VrskyError } from "../../errors/errors.js";
import type { CliContext } from "../context.js";
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
  allowPrune: boolean;
  id?: string;
  listen?: string;
  stateDir: string;
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
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--once", "run one reconcile and exit (exit 1 if it did not apply)", false)
    .option("--resync <duration>", "period of the full resync", "60s")
    .option("--lease-ttl <duration>", "leader lease duration; a standby takes over after it expires", "5s")
    .option("--max-delete-share <fraction>", "largest share of tenants one run may delete", "0.5")
    .option("--allow-prune", "allow this process to exceed --max-delete-share", false)
    .option("--id <id>", "reconciler id (default: host name and pid)")
    .option("--listen <addr>", "serve /healthz, /readyz and /metrics on this address (e.g. 127.0.0.1:9464)")
    .option("--state-dir <dir>", "local folder for the remote mirror", ".vrsky")
    .addHelpText("after", "\nExit codes: 0 stopped cleanly (or --once applied), 1 --once did not apply, 2 usage or environment error.")
    .action(async (flags: ReconcileFlags) => {
      ctx.exitCode = await runReconcile(flags, ctx);
    });
}

export function durationFlag(name: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new VrskyError("VRS_USAGE", `${name} '${value}' is not a duration (e.g. 500ms, 30s, 5m)`);
  return ms;
}

export async function runReconcile(flags: ReconcileFlags, ctx: CliContext, onReady?: (r: Reconciler) => void): Promise<number> {
  const share = Number(flags.maxDeleteShare);
  if (!(share >= 0 && share <= 1)) throw new VrskyError("VRS_USAGE", `--max-delete-share must be between 0 and 1, not '${flags.maxDeleteShare}'`);
  const source: RefSource = flags.remote
    ? new RemoteRefSource(flags.remote, resolve(flags.stateDir, "mirror.git"), flags.branch, durationFlag("--fetch-interval", flags.fetchInterval))
    : new LocalRefSource(resolve(flags.repo), flags.branch);
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  const nc = await connectNats({ url: flags.nats, creds: flags.creds, name: `vrsky-reconciler-${id}` });
  const log = (event: string, fields: Record<string, unknown> = {}) =>
    ctx.stderr.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + "\n");
  const reconciler = new Reconciler({
    nc,
    source,
    branch: flags.branch,
    id,
    resyncMs: durationFlag("--resync", flags.resync),
    leaseTtlMs: durationFlag("--lease-ttl", flags.leaseTtl),
    maxDeleteShare: share,
    allowPrune: flags.allowPrune,
    log,
  });
  try {
    if (flags.once) {
      const run = await reconciler.runOnce();
      ctx.stdout.write(`${run.outcome}: ${run.message} (revision ${run.revision.slice(0, 12)}, ${run.durationMs} ms)\n`);
      return run.outcome === "Applied" || run.outcome === "NoChange" ? 0 : 1;
    }
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") log(`nats-${s.type}`, {});
      }
    })();
    await reconciler.start();
    const probes = flags.listen ? await serveProbes(reconciler, flags.listen) : undefined;
    if (probes) log("listening", { url: probes.url });
    onReady?.(reconciler);
    const signal = await waitForSignal();
    log("stopping", { signal });
    probes?.server.close();
    await reconciler.stop();
    return 0;
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

export const DEFAULT_STATE_DIR = join(".vrsky");
