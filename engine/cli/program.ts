import { CommanderError } from "commander";
import { packageVersion } from "../util/package-root.js";
import { isVrskyError } from "../errors/errors.js";
import { registerPlan } from "./commands/plan.js";
import { registerReconcile } from "./commands/reconcile.js";
import { registerRevoke } from "./commands/revoke.js";
import { registerStatus } from "./commands/status.js";
import { registerUp } from "./commands/up.js";
import { registerValidate } from "./commands/validate.js";
import { registerInit } from "./commands/init.js";
import { registerCreds } from "./commands/creds.js";
import { registerWorker } from "./commands/worker.js";
import { registerGateway } from "./commands/gateway.js";
import { registerTest } from "./commands/test.js";
import { registerSecret } from "./commands/secret.js";
import { registerDlq } from "./commands/dlq.js";
import { registerTrace } from "./commands/trace.js";
import { registerApi } from "./commands/api.js";
import { registerWait } from "./commands/wait.js";
import type { CliContext } from "./context.js";
import { EnvCommand } from "./flag-env.js";
import type { Stream } from "./output.js";

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
  registerValidate(program, ctx);
  registerTest(program, ctx);
  registerPlan(program, ctx);
  registerReconcile(program, ctx);
  registerStatus(program, ctx);
  registerRevoke(program, ctx);
  registerUp(program, ctx);
  registerInit(program, ctx);
  registerCreds(program, ctx);
  registerWorker(program, ctx);
  registerGateway(program, ctx);
  registerSecret(program, ctx);
  registerDlq(program, ctx);
  registerTrace(program, ctx);
  registerApi(program, ctx);
  registerWait(program, ctx);
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
