import { chmodSync, closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, basename, resolve } from "node:path";
import type { Command } from "commander";
import { isTenantName, loadKeys } from "../../accounts/keys.js";
import { userCreds } from "../../accounts/claims.js";
import { formatDuration, parseDuration } from "../../manifests/durations.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import type { CliContext } from "../context.js";

interface CredsFlags {
  tenant: string;
  keys: string;
  generation: string;
  ttl: string;
  out?: string;
  name: string;
}

export function registerCreds(program: Command, ctx: CliContext): void {
  program
    .command("creds")
    .description("Issue short-lived NATS user credentials in a tenant's account")
    .requiredOption("--tenant <name>", "tenant name")
    .requiredOption("--keys <dir>", "key directory created by vrsky init")
    .option("--generation <n>", "the tenant's spec.accountKeyGeneration", "0")
    .option("--ttl <duration>", "lifetime of the credentials (e.g. 15m, 1h, 1d)", "1h")
    .option("--name <name>", "user name shown in server monitoring", "vrsky-cli")
    .option("--out <file>", "write the creds file here (mode 0600) instead of standard output")
    .addHelpText(
      "after",
      "\nThe creds hold a secret user key: store them with care. Exit codes: 0 issued, 2 usage or environment error.",
    )
    .action((o: CredsFlags) => {
      if (!isTenantName(o.tenant)) throw new VrskyError("VRS_USAGE", `--tenant '${o.tenant}' is not a tenant name`);
      const generation = Number(o.generation);
      if (!/^\d+$/.test(o.generation) || !Number.isSafeInteger(generation)) {
        throw new VrskyError("VRS_USAGE", `--generation must be a whole number >= 0, not '${o.generation}'`);
      }
      const ttlMs = parseDuration(o.ttl);
      if (ttlMs === undefined || ttlMs < 1000)
        throw new VrskyError("VRS_USAGE", `--ttl '${o.ttl}' is not a duration of at least 1s (e.g. 15m, 1h)`);
      const keys = loadKeys(o.keys);
      const c = userCreds(keys, o.tenant, generation, { name: o.name, ttlSeconds: Math.ceil(ttlMs / 1000) });
      if (o.out) writePrivate(resolve(o.out), c.creds);
      else ctx.stdout.write(c.creds);
      ctx.stderr.write(
        `creds for tenant ${o.tenant} (account ${c.accountPublicKey}, user ${c.userPublicKey})${o.out ? ` written to ${resolve(o.out)}` : ""}; ` +
          `they expire at ${c.expiresAt} (in ${formatDuration(Math.ceil(ttlMs / 1000) * 1000)})\n`,
      );
    });
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
