#!/usr/bin/env node
import { VrskyError } from "../errors/errors.js";
import { captureSignalsEarly } from "./signals.js";
import { exitCodeAfterWrites, StdStream } from "./std-streams.js";

const argv = process.argv.slice(2);
// First, before the rest of the CLI loads: a command that stops gracefully gets a signal that arrives meanwhile.
if (stopsGracefully(argv)) captureSignalsEarly();

/**
 * Once the command has returned, the process exits within this time even when a socket or timer is left behind
 * (a NATS client whose connect timed out keeps its socket open for ever): a command always ends with its code.
 */
const EXIT_GRACE_MS = 500;

const stdout = new StdStream(process.stdout);
const stderr = new StdStream(process.stderr);

// At exit, not when the command returns: a failed write is reported by its stream a tick after the write.
process.once("exit", (code) => {
  if (stdout.failure) {
    const e = new VrskyError("VRS_WRITE_FAILED", `cannot write to standard output: ${stdout.failure.message}`);
    stderr.write(`vrsky: ${e.explain()}\n`);
  }
  process.exitCode = exitCodeAfterWrites(code, [stdout, stderr]);
});

const { runCli } = await import("./program.js");
try {
  process.exitCode = await runCli(argv, { stdout, stderr });
} catch (e) {
  stderr.write(`vrsky: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 70;
}
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();

/** `worker`, `gateway`, `up` and `reconcile` without --once run until a signal stops them. */
function stopsGracefully(args: string[]): boolean {
  const [command] = args;
  if (args.some((a) => a === "--help" || a === "-h")) return false;
  if (command === "reconcile") return !args.includes("--once");
  return command === "worker" || command === "gateway" || command === "up";
}
