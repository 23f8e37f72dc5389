import { chmodSync, closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, basename, resolve } from "node:path";
import type { Command } from "commander";
import { JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { isTenantName, loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { readerUser } from "../../accounts/reader-user.js";
import { workerUser } from "../../accounts/worker-identity.js";
import { BUCKETS } from "../../contract/buckets.js";
import type { AccountRecord } from "../../contract/accounts.js";
import { isWorkerId } from "../../contract/keys.js";
import { connectNats } from "../../nats/connect.js";
import { MAX_USER_TTL_SECONDS, userCreds } from "../../accounts/claims.js";
import { formatDuration, parseDuration } from "../../manifests/durations.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import type { CliContext } from "../context.js";

interface CredsFlags {
  tenant?: string;
  worker?: string;
  reader?: boolean;
  keys: string;
  nats?: string;
  creds?: string;
  force?: boolean;
  generation?: string;
  ttl: string;
  out?: string;
  name?: string;
}

export function registerCreds(program: Command, ctx: CliContext): void {
  program
    .command("creds")
    .description(
      "Issue short-lived NATS user credentials in a tenant's account, a worker's platform identity, or a read-only platform user",
    )
    .option("--tenant <name>", "tenant name: a user in the tenant's account")
    .option("--worker <id>", "worker id: the worker's own user in the platform account (vrsky worker --creds)")
    .option(
      "--reader",
      "a read-only user of the platform account: reads the state, writes nothing (vrsky pr-check --creds)",
    )
    .requiredOption("--keys <dir>", "key directory created by vrsky init")
    .option("--nats <url>", "NATS server URL(s) of the platform: the tenant must exist in its live state")
    .option("--creds <file>", "NATS credentials of the platform account (default: the --keys folder's platform.creds)")
    .option("--force", "issue tenant credentials without checking that the tenant exists (no --nats needed)")
    .option("--generation <n>", "the tenant's spec.accountKeyGeneration (default: the live account's, else 0)")
    .option(
      "--ttl <duration>",
      "lifetime of the credentials (e.g. 15m, 1h, 1d; default 1h, 30d with --worker or --reader)",
    )
    .option("--name <name>", "user name shown in server monitoring (default vrsky-cli)")
    .option("--out <file>", "write the creds file here (mode 0600) instead of standard output")
    .addHelpText(
      "after",
      "\nThe creds hold a secret user key: store them with care. Exit codes: 0 issued, 2 usage or environment error.",
    )
    .action(async (o: CredsFlags) => {
      if ([o.tenant !== undefined, o.worker !== undefined, o.reader === true].filter(Boolean).length !== 1)
        throw new VrskyError(
          "VRS_USAGE",
          "give one of --tenant (a tenant user), --worker (a worker's identity) and --reader (a read-only platform user)",
        );
      if (o.tenant !== undefined && !isTenantName(o.tenant))
        throw new VrskyError("VRS_USAGE", `--tenant '${o.tenant}' is not a tenant name`);
      if (o.worker !== undefined && !isWorkerId(o.worker))
        throw new VrskyError("VRS_USAGE", `--worker '${o.worker}' must be letters, digits, '-' and '_', at most 128`);
      const generation = o.generation === undefined ? undefined : Number(o.generation);
      if (o.generation !== undefined && (!/^\d+$/.test(o.generation) || !Number.isSafeInteger(generation))) {
        throw new VrskyError("VRS_USAGE", `--generation must be a whole number >= 0, not '${o.generation}'`);
      }
      const ttl = o.ttl ?? (o.tenant === undefined ? "30d" : "1h");
      const ttlMs = parseDuration(ttl);
      if (ttlMs === undefined || ttlMs < 1000)
        throw new VrskyError("VRS_USAGE", `--ttl '${ttl}' is not a duration of at least 1s (e.g. 15m, 1h)`);
      if (o.tenant !== undefined && ttlMs > MAX_USER_TTL_SECONDS * 1000)
        throw new VrskyError("VRS_USAGE", `--ttl '${ttl}' is longer than tenant credentials may live (30d)`);
      const keys = loadKeys(o.keys);
      const ttlSeconds = Math.ceil(ttlMs / 1000);
      const where = o.out ? ` written to ${resolve(o.out)}` : "";
      const emit = (creds: string, what: string, expiresAt: string) => {
        if (o.out) writePrivate(resolve(o.out), creds);
        else ctx.stdout.write(creds);
        ctx.stderr.write(`${what}${where}; they expire at ${expiresAt} (in ${formatDuration(ttlSeconds * 1000)})\n`);
      };
      if (o.reader) {
        const r = readerUser(keys, { ttlSeconds, name: o.name });
        emit(r.creds, `read-only creds (platform account, user ${r.userPublicKey})`, r.expiresAt);
        return;
      }
      if (o.worker !== undefined) {
        const w = workerUser(keys, o.worker, ttlSeconds);
        emit(w.creds, `creds for worker ${o.worker} (platform account, user ${w.userPublicKey})`, w.expiresAt);
        return;
      }
      const tenant = o.tenant!;
      let gen = generation;
      if (!o.force) {
        if (o.nats === undefined)
          throw new VrskyError(
            "VRS_USAGE",
            `--nats is needed to check that tenant ${tenant} exists (or --force to issue without checking)`,
          );
        const live = await liveAccount(o.nats, platformCredsFile(o.creds, keys), tenant);
        if (gen !== undefined && gen !== live.generation)
          throw new VrskyError(
            "VRS_USAGE",
            `--generation ${gen}: tenant ${tenant}'s live account is at generation ${live.generation} (leave --generation out)`,
          );
        gen = live.generation;
      }
      const c = userCreds(keys, tenant, gen ?? 0, { name: o.name ?? "vrsky-cli", ttlSeconds });
      emit(c.creds, `creds for tenant ${tenant} (account ${c.accountPublicKey}, user ${c.userPublicKey})`, c.expiresAt);
    });
}

/** The tenant's account as the platform's live state has it (`vrsky-accounts`); VRS_STATE_NOT_FOUND without one. */
async function liveAccount(url: string, creds: string | undefined, tenant: string): Promise<AccountRecord> {
  const nc = await connectNats({ url, creds, name: "vrsky-creds" });
  try {
    let kv;
    try {
      kv = await new Kvm(nc).open(BUCKETS.accounts);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === 10059)
        throw new VrskyError(
          "VRS_STATE_NOT_FOUND",
          `no bucket ${BUCKETS.accounts} at ${url}: no tenant account exists there`,
        );
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read ${BUCKETS.accounts}: ${errorMessage(e)}`, { cause: e });
    }
    const e = await kv.get(tenant).catch((err: unknown) => {
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read ${BUCKETS.accounts}: ${errorMessage(err)}`, {
        cause: err,
      });
    });
    const record = e?.operation === "PUT" ? (JSON.parse(e.string()) as AccountRecord) : undefined;
    if (!record || typeof record.generation !== "number")
      throw new VrskyError(
        "VRS_STATE_NOT_FOUND",
        `tenant ${tenant} has no account in the live state at ${url} (it does not exist or is not applied yet); ` +
          "check the name, or pass --force to issue anyway",
      );
    return record;
  } finally {
    await nc.close();
  }
}

/** Writes through a temporary file of mode 0600 and a rename, so the file is never readable by others. */
function writePrivate(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "wx", 0o600);
  } catch (e) {
    throw new VrskyError("VRS_WRITE_FAILED", `cannot write ${path}: ${errorMessage(e)}`, { cause: e });
  }
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new VrskyError("VRS_WRITE_FAILED", `cannot write ${path}: ${errorMessage(e)}`, { cause: e });
  }
}
