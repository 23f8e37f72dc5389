import type { Command } from "commander";
import { isPublicKey } from "../../accounts/fast-keys.js";
import { isTenantName, loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import { connectNats } from "../../nats/connect.js";
import { revocationKey } from "../../contract/keys.js";
import { REVOCATION_FORMAT, type RevocationRecord } from "../../contract/revocations.js";
import { openBucket } from "../../state/open.js";
import type { CliContext } from "../context.js";

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
    .addHelpText("after", "\nExit codes: 0 recorded, 2 usage or environment error.")
    .action(
      async (o: { tenant: string; user: string; nats: string; creds?: string; keys?: string; reason?: string }) => {
        if (!isTenantName(o.tenant)) throw new VrskyError("VRS_USAGE", `--tenant '${o.tenant}' is not a tenant name`);
        if (!isPublicKey(o.user, "user"))
          throw new VrskyError(
            "VRS_USAGE",
            // Never echo the value: it may be a seed pasted by mistake.
            `--user must be a user public key (56 characters starting with U, as vrsky creds printed it); the value given is not one${/^S/.test(o.user) ? " (it looks like a secret seed: never pass seeds on a command line; issue new creds and revoke the old user)" : ""}`,
          );
        const creds = platformCredsFile(o.creds, o.keys ? loadKeys(o.keys) : undefined);
        const nc = await connectNats({ url: o.nats, creds, name: "vrsky-revoke", jetstream: true });
        try {
          const record: RevocationRecord = {
            format: REVOCATION_FORMAT,
            tenant: o.tenant,
            userPublicKey: o.user,
            revokedAt: Math.floor(Date.now() / 1000),
            ...(o.reason ? { reason: o.reason } : {}),
          };
          try {
            const kv = await openBucket(nc, "revocations");
            await kv.put(revocationKey(o.tenant, o.user), JSON.stringify(record));
          } catch (e) {
            // e.g. a server without JetStream, or an account that may not use it
            throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot record the revocation: ${errorMessage(e)}`, {
              cause: e,
            });
          }
          ctx.stdout.write(
            `revoked ${o.user} of tenant ${o.tenant}; the leading reconciler re-pushes the account and the user is disconnected\n`,
          );
        } finally {
          await nc.close();
        }
      },
    );
}
