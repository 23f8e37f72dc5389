/**
 * The flags of a `vrsky` command as its `--help` prints them, read in-process through runCli: what a manifest or a
 * script may pass to that command, so that they cannot drift from the CLI.
 */
import { runCli } from "../../engine/cli/program.js";

export interface CommandFlags {
  /** Every long flag (`--listen`), and whether it takes a value (`--listen <addr>`) or not (`--once`). */
  flags: Map<string, { takesValue: boolean }>;
  /** The environment variables the help names (`(env: VRSKY_NATS_URL)`, `$VRSKY_API_ADMIN_KEY`). */
  env: Set<string>;
}

export async function commandFlags(command: string): Promise<CommandFlags> {
  let help = "";
  const out = { write: (s: string) => ((help += s), true) };
  const code = await runCli([command, "--help"], { stdout: out, stderr: out });
  if (code !== 0) throw new Error(`vrsky ${command} --help exited ${code}:\n${help}`);
  const flags = new Map<string, { takesValue: boolean }>();
  for (const m of help.matchAll(/^ {2}(?:-\w, )?(--[a-z][\w-]*)( [<[])?/gm)) {
    flags.set(m[1]!, { takesValue: m[2] !== undefined });
  }
  if (flags.size === 0) throw new Error(`no flags found in vrsky ${command} --help:\n${help}`);
  const env = new Set([...help.matchAll(/\bVRSKY_[A-Z_]+/g)].map((m) => m[0]));
  return { flags, env };
}

/**
 * The problems of an argument list `[command, ...args]` for `vrsky`: flags the command does not have, a flag that
 * takes a value without one, a value where the flag takes none (a stray argument), `VRSKY_*` variables the command
 * does not read. Empty when the command line is one the CLI accepts.
 */
export async function commandLineProblems(args: readonly string[], envNames: readonly string[]): Promise<string[]> {
  const [command, ...rest] = args;
  if (!command || command.startsWith("-")) return [`no command first in ${JSON.stringify(args)}`];
  const { flags, env } = await commandFlags(command);
  const problems: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i]!;
    if (!token.startsWith("--")) {
      problems.push(`vrsky ${command}: stray argument ${JSON.stringify(token)} (no flag takes it)`);
      continue;
    }
    const [name, inline] = token.split(/=(.*)/s);
    const flag = flags.get(name!);
    if (!flag) {
      problems.push(`vrsky ${command} has no flag ${name}`);
      continue;
    }
    if (flag.takesValue && inline === undefined) {
      const value = rest[i + 1];
      if (value === undefined || value.startsWith("--")) problems.push(`vrsky ${command} ${name}: no value given`);
      else i++;
    } else if (!flag.takesValue && inline !== undefined) {
      problems.push(`vrsky ${command} ${name} takes no value, got ${JSON.stringify(inline)}`);
    }
  }
  for (const name of envNames) {
    if (name.startsWith("VRSKY_") && !env.has(name)) problems.push(`vrsky ${command} does not read ${name}`);
  }
  return problems;
}
