/**
 * Environment variables for the flags most commands share (docs/cli.md, "Environment variables"): a flag given on
 * the command line wins over its variable, and the variable wins over the flag's default. A container or a CI job
 * sets them once instead of repeating `--nats` and `--keys` in every command.
 */
import { Command, type Option } from "commander";

/** The variable of each flag, and the commands that read it (none listed: every command that has the flag). */
export const FLAG_ENV: ReadonlyArray<{ flag: string; env: string; commands?: readonly string[] }> = [
  { flag: "--nats", env: "VRSKY_NATS_URL" },
  { flag: "--keys", env: "VRSKY_KEYS" },
  { flag: "--creds", env: "VRSKY_CREDS" },
  // The GitOps repository; `worker` and `gateway` take --repo only for sealed secrets, and keep it explicit.
  { flag: "--repo", env: "VRSKY_REPO", commands: ["validate", "test", "plan", "reconcile", "up", "api", "pr-check"] },
  { flag: "--branch", env: "VRSKY_BRANCH" },
  { flag: "--secrets-dir", env: "VRSKY_SECRETS_DIR" },
  { flag: "--file-root", env: "VRSKY_FILE_ROOT" },
  // Replicas of the buckets and streams a process creates (engine/nats/replication.ts): the same for the whole fleet.
  { flag: "--replicas", env: "VRSKY_REPLICAS" },
];

/**
 * A commander Command whose options take their variable (FLAG_ENV) as they are added, in every command made from
 * it: commander reads a variable through a listener it registers when the option is added, so it must be set then.
 */
export class EnvCommand extends Command {
  override createCommand(name?: string): EnvCommand {
    return new EnvCommand(name);
  }

  override addOption(option: Option): this {
    const row = FLAG_ENV.find((r) => r.flag === option.long);
    if (row && (!row.commands || row.commands.includes(this.name())) && !option.envVar) option.env(row.env);
    return super.addOption(option);
  }
}
