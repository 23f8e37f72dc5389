import type { Command } from "commander";
import { initKeys, type InitResult } from "../../accounts/keys.js";
import { formatOption, type CliContext } from "../context.js";

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command("init")
    .description(
      "Create the operator-mode key directory: operator, system and platform accounts, master secret, nats-server config",
    )
    .requiredOption("--keys <dir>", "new (or empty) directory for the keys; created with mode 0700, files 0600")
    .addOption(formatOption(["text", "json"]))
    .addHelpText(
      "after",
      "\nThe directory holds secrets: keep it out of git, back it up, and give it only to the reconciler." +
        "\nNothing secret is printed. Exit codes: 0 created, 2 usage or environment error (e.g. the directory is not empty).",
    )
    .action((o: { keys: string; format: "text" | "json" }) => {
      const r = initKeys(o.keys);
      if (o.format === "json") ctx.stdout.write(JSON.stringify(initJson(r), null, 2) + "\n");
      else ctx.stdout.write(initText(r));
    });
}

/** Public keys and paths only (never a seed). */
export function initJson(r: InitResult) {
  return {
    formatVersion: 1,
    dir: r.dir,
    operatorPublicKey: r.operatorPublicKey,
    systemAccountPublicKey: r.systemAccountPublicKey,
    platformAccountPublicKey: r.platformAccountPublicKey,
    serverConfig: r.serverConfig,
    sysCreds: r.sysCreds,
    platformCreds: r.platformCreds,
    files: r.files,
  };
}

function initText(r: InitResult): string {
  return [
    `Created keys in ${r.dir} (directory 0700, files 0600):`,
    `  operator          ${r.operatorPublicKey}`,
    `  system account    ${r.systemAccountPublicKey}  (user: ${r.sysCreds})`,
    `  platform account  ${r.platformAccountPublicKey}  (user: ${r.platformCreds})`,
    `  files: ${r.files.join(", ")}`,
    "",
    `nats-server config (operator mode, full resolver): ${r.serverConfig}`,
    "  Add it to the server's configuration (its JetStream settings stay as they are), then start the server.",
    `  The engine connects with --creds ${r.platformCreds}; account pushes use ${r.sysCreds}.`,
    "",
    "Keep this directory secret and backed up; never commit it (its .gitignore keeps `git add` away from it).",
    "Losing it means re-creating every tenant account.",
    "",
  ].join("\n");
}
