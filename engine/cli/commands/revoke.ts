import { JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Command } from "commander";
import { isPublicKey } from "../../accounts/fast-keys.js";
import { isTenantName, loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { errorMessage, isVrskyError, VrskyError } from "../../errors/errors.js";
import { connectNats } from "../../nats/connect.js";
import { BUCKETS } from "../../contract/buckets.js";
import type { AccountRecord } from "../../contract/accounts.js";
import { revocationKey } from "../../contract/keys.js";
import { REVOCATION_FORMAT, type RevocationRecord } from "../../contract/revocations.js";
import { formatDuration, parseDuration } from "../../manifests/durations.js";
import type { CliContext } from "../context.js";

interface RevokeFlags {
  tenant: string;
  user: string;
  nats: string;
  creds?: string;
  keys?: string;
  reason?: string;
  timeout: string;
}

export function registerRevoke(program: Command, ctx: CliContext): void {
  program
    .command("revoke")
    .description("Revoke a tenant user: the reconciler re-pushes the tenant's account and the user is disconnected")
    .requiredOption("--tenant <name>", "tenant name")
    .requiredOption("--user <public-key>", "the user's public key (U...), as `vrsky creds` printed it")
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .option("--reason <text>", "why, for the record")
    .option("--timeout <duration>", "how long to wait for the leading reconciler to confirm", "30s")
    .addHelpText(
      "after",
      "\nExit codes: 0 the leading reconciler pushed the account without the user (it is disconnected), " +
        "1 recorded but not confirmed in time, 2 usage or environment error (nothing recorded).",
    )
    .action(async (o: RevokeFlags) => {
      ctx.exitCode = await runRevoke(o, ctx);
    });
}

async function runRevoke(o: RevokeFlags, ctx: CliContext): Promise<number> {
  if (!isTenantName(o.tenant)) throw new VrskyError("VRS_USAGE", `--tenant '${o.tenant}' is not a tenant name`);
  if (!isPublicKey(o.user, "user"))
    throw new VrskyError(
      "VRS_USAGE",
      // Never echo the value: it may be a seed pasted by mistake.
      `--user must be a user public key (56 characters starting with U, as vrsky creds printed it); the value given is not one${/^S/.test(o.user) ? " (it looks like a secret seed: never pass seeds on a command line; issue new creds and revoke the old user)" : ""}`,
    );
  const timeoutMs = parseDuration(o.timeout);
  if (timeoutMs === undefined || timeoutMs < 1_000)
    throw new VrskyError("VRS_USAGE", `--timeout '${o.timeout}' is not a duration of at least 1s (e.g. 30s, 2m)`);
  const creds = platformCredsFile(o.creds, o.keys ? loadKeys(o.keys) : undefined);
  const nc = await connectNats({ url: o.nats, creds, name: "vrsky-revoke", jetstream: true });
  try {
    const kvm = new Kvm(nc);
    const accounts = await openExisting(kvm, BUCKETS.accounts);
    // Only a tenant the platform gave an account can have a user to revoke; anything else would record a
    // revocation nobody applies (tenant creds, a fleet without operator keys, a misspelt tenant).
    const current = await accounts.get(o.tenant).catch(() => null);
    if (current?.operation !== "PUT")
      throw new VrskyError(
        "VRS_STATE_NOT_FOUND",
        `tenant ${o.tenant} has no NATS account in ${BUCKETS.accounts}: the tenant does not exist, the fleet runs ` +
          "without operator keys, or --creds are not the platform's; nothing was revoked",
      );
    const revocations = await openExisting(kvm, BUCKETS.revocations);
    const record: RevocationRecord = {
      format: REVOCATION_FORMAT,
      tenant: o.tenant,
      userPublicKey: o.user,
      revokedAt: Math.floor(Date.now() / 1000),
      ...(o.reason ? { reason: o.reason } : {}),
    };
    // Watch first (its first entry is the current record), then write: the confirmation cannot be missed.
    const watch = await accounts.watch({ key: o.tenant });
    const timer = setTimeout(() => void watch.stop(), timeoutMs);
    let confirmed: AccountRecord | undefined;
    try {
      await put(revocations, revocationKey(o.tenant, o.user), JSON.stringify(record));
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const a = decodeAccount(e.string());
        if ((a?.revocations?.[o.user] ?? -1) >= record.revokedAt) {
          confirmed = a!.record;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      watch.stop();
    }
    if (!confirmed) {
      ctx.stderr.write(
        `vrsky: the revocation of ${o.user} (tenant ${o.tenant}) is recorded, but no leading reconciler confirmed it ` +
          `within ${formatDuration(timeoutMs)}: the user may still be connected. Check that a reconciler with --keys ` +
          "leads (vrsky status); it applies the revocation when it does.\n",
      );
      return 1;
    }
    ctx.stdout.write(
      `revoked ${o.user} of tenant ${o.tenant}: the leading reconciler pushed account ${confirmed.accountPublicKey} ` +
        `without it at ${confirmed.pushedAt}; the user is disconnected\n`,
    );
    return 0;
  } finally {
    await nc.close();
  }
}

async function openExisting(kvm: Kvm, name: string): Promise<KV> {
  try {
    return await kvm.open(name);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059)
      throw new VrskyError(
        "VRS_STATE_NOT_FOUND",
        `no bucket ${name}: --creds do not reach the platform's state, or no reconciler ran here; nothing was revoked`,
      );
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot open ${name}: ${errorMessage(e)}`, { cause: e });
  }
}

async function put(kv: KV, key: string, value: string): Promise<void> {
  try {
    await kv.put(key, value);
  } catch (e) {
    if (isVrskyError(e)) throw e;
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot record the revocation: ${errorMessage(e)}`, { cause: e });
  }
}

/** The account record and the revocations its pushed JWT carries; undefined for a value that is not one. */
function decodeAccount(text: string): { record: AccountRecord; revocations?: Record<string, number> } | undefined {
  try {
    const record = JSON.parse(text) as AccountRecord;
    const claims = JSON.parse(record.claims) as { revocations?: Record<string, number> };
    return { record, revocations: claims.revocations };
  } catch {
    return undefined;
  }
}
