import type { Command } from "commander";
import { isTenantName } from "../../accounts/keys.js";
import { VrskyError } from "../../errors/errors.js";
import { loadSecretsIdentity, writeSecretsKey } from "../../secrets/age-key.js";
import { MAX_SEALED_BYTES } from "../../secrets/git-age.js";
import { sealSecret } from "../../secrets/seal.js";
import { repoOption, type CliContext } from "../context.js";

interface SealFlags {
  tenant: string;
  name: string;
  repo: string;
  keys?: string;
  recipient?: string[];
}

/** An X25519 age recipient: "age1" and bech32 characters (the library checks the checksum). */
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export function registerSecret(program: Command, ctx: CliContext): void {
  const secret = program.command("secret").description("Seal secrets into the repository; make the secrets key");
  secret
    .command("seal")
    .description("Encrypt a value from standard input to secrets/<tenant>/<name>.age in the working tree")
    .requiredOption("--tenant <name>", "the tenant that owns the secret")
    .requiredOption("--name <name>", "the secret's name, as manifests reference it with secretRef")
    .addOption(repoOption())
    .option("--keys <dir>", "key directory whose secrets.agekey the secret is sealed for")
    .option("--recipient <age1...>", "seal for this age recipient instead (repeat for several)", collect)
    .addHelpText(
      "after",
      "\nThe value is read from standard input as it is (no newline is stripped: use printf '%s'). Commit the file" +
        "\nit writes; only committed secrets count. Exit codes: 0 written, 2 usage or environment error.",
    )
    .action(async (o: SealFlags) => {
      if (!isTenantName(o.tenant)) throw new VrskyError("VRS_USAGE", `--tenant '${o.tenant}' is not a tenant name`);
      if (!isTenantName(o.name))
        throw new VrskyError("VRS_USAGE", `--name '${o.name}' is not a name (lowercase letters, digits and '-')`);
      if (Boolean(o.keys) === Boolean(o.recipient))
        throw new VrskyError("VRS_USAGE", "give either --keys DIR or --recipient age1... (one of them)");
      for (const r of o.recipient ?? [])
        if (!RECIPIENT.test(r)) throw new VrskyError("VRS_USAGE", `--recipient '${r}' is not an age1... recipient`);
      if (process.stdin.isTTY)
        throw new VrskyError("VRS_USAGE", "pipe the value into standard input (it is not read from a terminal)");
      const recipients = o.keys ? [(await loadSecretsIdentity(o.keys)).recipient] : o.recipient!;
      const value = await readStdin();
      try {
        const r = await sealSecret({ repo: o.repo, tenant: o.tenant, name: o.name, recipients, value });
        ctx.stdout.write(
          `sealed ${value.length} bytes for tenant ${o.tenant} to ${r.path} (in ${r.file}); commit it to use it\n`,
        );
      } finally {
        value.fill(0);
      }
    });
  secret
    .command("keygen")
    .description("Add the age identity that decrypts committed secrets to a key directory")
    .requiredOption("--keys <dir>", "key directory created by vrsky init")
    .addHelpText(
      "after",
      "\nvrsky init makes the identity in new key directories; this adds it to one made before. Prints the" +
        "\nrecipient (public). Never overwrites. Exit codes: 0 written, 2 usage or environment error.",
    )
    .action((o: { keys: string }) => {
      const r = writeSecretsKey(o.keys);
      ctx.stdout.write(`wrote ${r.path} (mode 0600, keep it out of git)\nrecipient: ${r.recipient}\n`);
    });
  for (const cmd of secret.commands) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SEALED_BYTES / 2) {
      for (const c of chunks) c.fill(0);
      throw new VrskyError("VRS_USAGE", `the value is larger than ${MAX_SEALED_BYTES / 2} bytes; a secret is small`);
    }
    chunks.push(chunk);
  }
  if (size === 0) throw new VrskyError("VRS_USAGE", "standard input was empty: pipe the secret's value into it");
  const value = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return value;
}
