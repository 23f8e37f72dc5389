import { CommanderError } from "commander";
import { packageVersion } from "../util/package-root.js";
import { isVrskyError } from "../errors/errors.js";
import type { CliContext } from "./context.js";
import { EnvCommand } from "./flag-env.js";
import type { Stream } from "./output.js";
import type { Command } from "commander";

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Every command, in the order `vrsky --help` lists them, each loaded only when it is needed: a command's module
 * pulls in what it runs on (NATS, fastify, OpenTelemetry, PostgreSQL, ...), and loading all of them cost every
 * invocation about a second of CPU. `vrsky <command>` loads that command alone; help and unknown commands load all.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  validate: async () => (await import("./commands/validate.js")).registerValidate,
  test: async () => (await import("./commands/test.js")).registerTest,
  plan: async () => (await import("./commands/plan.js")).registerPlan,
  reconcile: async () => (await import("./commands/reconcile.js")).registerReconcile,
  status: async () => (await import("./commands/status.js")).registerStatus,
  revoke: async () => (await import("./commands/revoke.js")).registerRevoke,
  up: async () => (await import("./commands/up.js")).registerUp,
  init: async () => (await import("./commands/init.js")).registerInit,
  creds: async () => (await import("./commands/creds.js")).registerCreds,
  worker: async () => (await import("./commands/worker.js")).registerWorker,
  gateway: async () => (await import("./commands/gateway.js")).registerGateway,
  secret: async () => (await import("./commands/secret.js")).registerSecret,
  dlq: async () => (await import("./commands/dlq.js")).registerDlq,
  trace: async () => (await import("./commands/trace.js")).registerTrace,
  api: async () => (await import("./commands/api.js")).registerApi,
  wait: async () => (await import("./commands/wait.js")).registerWait,
  "pr-check": async () => (await import("./commands/pr-check.js")).registerPrCheck,
};

export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

/** Runs the CLI with arguments (without `node vrsky`); returns the exit code instead of exiting. */
export async function runCli(argv: string[], io: { stdout?: Stream; stderr?: Stream } = {}): Promise<number> {
  // `plan --detailed-exitcode` keeps 2 for "changes", as Terraform does: every error is 1 there.
  const usage = argv[0] === "plan" && argv.includes("--detailed-exitcode") ? EXIT.findings : EXIT.usage;
  const ctx: CliContext = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, exitCode: 0 };
  const program = new EnvCommand("vrsky")
    .description("VRSky: a declarative GitOps integration engine on NATS")
    .version(packageVersion())
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .exitOverride();
  const [first] = argv;
  const only =
    first === "--version" || first === "-V"
      ? []
      : first !== undefined && Object.hasOwn(COMMANDS, first)
        ? [first]
        : undefined;
  const wanted = only ?? Object.keys(COMMANDS);
  const registers = await Promise.all(wanted.map((name) => COMMANDS[name]!()));
  for (const register of registers) register(program, ctx);
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.ok;
      // `vrsky help` exits 0; help shown instead of a missing command (`vrsky`, `vrsky dlq`) is a usage error.
      if (e.code === "commander.help") return e.exitCode === 0 ? EXIT.ok : usage;
      return usage;
    }
    if (isVrskyError(e)) {
      ctx.stderr.write(`vrsky: ${e.explain()}\n`);
      return usage;
    }
    throw e;
  }
}
