/** `vrsky api`: runs the read-only status API (engine/api/) until SIGTERM or SIGINT. */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { startApi, type Api } from "../../api/api.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import { git } from "../../git/exec.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import { packageRoot } from "../../util/package-root.js";
import { parseListen } from "../../util/listen-address.js";
import type { CliContext } from "../context.js";
import { commandLog } from "../log/event-log.js";
import { processTelemetry } from "../telemetry.js";
import { watchSignals } from "../signals.js";
import { durationFlag } from "./reconcile.js";

export interface ApiFlags {
  nats: string;
  creds?: string;
  keys?: string;
  listen: string;
  adminKeyFile?: string;
  rateLimit: string;
  repo?: string;
  branch: string;
  maxStreamsPerKey: string;
}

/** Where the admin key comes from when --admin-key-file is not given. */
export const ADMIN_KEY_ENV = "VRSKY_API_ADMIN_KEY";
/** The shortest admin key taken: a guessable key would open every tenant. */
export const MIN_ADMIN_KEY_LENGTH = 16;

export function registerApi(program: Command, ctx: CliContext): void {
  program
    .command("api")
    .description("Serve the read-only status API: sync state, tenants, integrations, workers, assignments, events")
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform, comma-separated")
    .option("--creds <file>", "NATS credentials file of the platform account (default with --keys: its platform.creds)")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .option(
      "--listen <addr>",
      "serve the API, /healthz, /readyz and /metrics on host:port, [ipv6]:port, :port (every interface) or port (loopback)",
      "127.0.0.1:8090",
    )
    .option(
      "--admin-key-file <file>",
      `file holding the admin key, which sees every tenant (default: $${ADMIN_KEY_ENV}); at least ${MIN_ADMIN_KEY_LENGTH} characters`,
    )
    .option("--rate-limit <count/duration>", "requests per key (per client address without a key)", "600/1m")
    .option("--max-streams-per-key <count>", "event streams one key may hold open at once", "10")
    .option("--repo <dir>", "the git repository the reconciler follows, for /api/v1/plan (without it the plan is 404)")
    .option("--branch <name>", "the branch the reconciler follows (with --repo)", "main")
    .addHelpText(
      "after",
      "\nTenant keys are read from the applied tenant manifests (spec.apiKeys: their SHA-256 only).\n" +
        "An admin key is required: from --admin-key-file or the environment variable " +
        `${ADMIN_KEY_ENV}.\n` +
        "On SIGTERM or Ctrl-C the API closes its event streams and connections and exits 0.\n" +
        "Exit codes: 0 stopped cleanly, 2 usage or environment error.",
    )
    .action(async (flags: ApiFlags) => {
      ctx.exitCode = await runApi(flags, ctx);
    });
}

export async function runApi(flags: ApiFlags, ctx: CliContext, onReady?: (api: Api) => void): Promise<number> {
  const listen = parseListen(flags.listen, "--listen");
  const rateLimit = rateLimitFlag(flags.rateLimit);
  const maxStreamsPerKey = countFlag("--max-streams-per-key", flags.maxStreamsPerKey);
  const repo = flags.repo === undefined ? undefined : await repoFlag(flags.repo, flags.branch);
  const adminKey = readAdminKey(flags.adminKeyFile, process.env[ADMIN_KEY_ENV]);
  const creds = platformCredsFile(flags.creds, flags.keys ? loadKeys(flags.keys) : undefined);
  const log = commandLog(ctx, "api");
  const signals = watchSignals();
  try {
    const nc = await connectNats({ url: flags.nats, creds, name: "vrsky-api", jetstream: true });
    let api: Api | undefined;
    const telemetry = processTelemetry();
    try {
      api = await startApi({
        nc,
        listen,
        adminKey,
        rateLimit,
        version: packageVersion(),
        log,
        telemetry,
        maxStreamsPerKey,
        ...(repo ? { repo } : {}),
      });
      log("ready", { url: api.url });
      onReady?.(api);
      const signal = await signals.signal;
      log("stopping", { signal });
      await api.close();
      log("stopped", {});
      return 0;
    } finally {
      await api?.close();
      await closeNats(nc);
      await telemetry.shutdown();
    }
  } finally {
    signals.stop();
  }
}

/** A count of at least 1. */
export function countFlag(flag: string, text: string): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1)) throw new VrskyError("VRS_USAGE", `${flag} '${text}' is not a count of at least 1`);
  return n;
}

/** `--repo` and `--branch`: a git repository, checked before connecting (the branch may appear later). */
async function repoFlag(dir: string, branch: string): Promise<{ dir: string; branch: string }> {
  const repo = resolve(dir);
  if ((await git(repo, ["rev-parse", "--git-dir"])).code !== 0)
    throw new VrskyError("VRS_GIT_NOT_A_REPO", `${repo} is not a git repository (--repo)`);
  return { dir: repo, branch };
}

/** `600/1m`: at most 600 requests per key per minute. */
export function rateLimitFlag(text: string): { max: number; timeWindowMs: number } {
  const m = /^(\d{1,9})\/(.+)$/.exec(text);
  const max = m ? Number(m[1]) : NaN;
  if (!m || max < 1)
    throw new VrskyError(
      "VRS_USAGE",
      `--rate-limit '${text}' is not <count>/<duration> with a count of at least 1 (e.g. 600/1m)`,
    );
  return { max, timeWindowMs: durationFlag("--rate-limit", m[2]!, { ms: 1_000, text: "1s" }) };
}

/**
 * The admin key: the file's content (without a trailing newline) or the environment variable's value. Without
 * one the API does not start: tenant keys come and go with commits, and an API that no operator key opens is one
 * nobody can check.
 */
export function readAdminKey(file: string | undefined, env: string | undefined): string {
  let key: string;
  let from: string;
  if (file !== undefined) {
    try {
      key = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new VrskyError("VRS_USAGE", `--admin-key-file ${file} cannot be read: ${errorMessage(e)}`);
    }
    from = `--admin-key-file ${file}`;
  } else if (env !== undefined && env !== "") {
    key = env;
    from = ADMIN_KEY_ENV;
  } else {
    throw new VrskyError(
      "VRS_USAGE",
      `no admin key: give --admin-key-file FILE or set ${ADMIN_KEY_ENV} (e.g. openssl rand -hex 32 > admin.key)`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(key) || key.length < MIN_ADMIN_KEY_LENGTH || key.length > 512)
    throw new VrskyError(
      "VRS_USAGE",
      `the admin key of ${from} must be ${MIN_ADMIN_KEY_LENGTH} to 512 printable characters without spaces (e.g. openssl rand -hex 32)`,
    );
  return key;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}
