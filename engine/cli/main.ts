#!/usr/bin/env node
import { VrskyError } from "../errors/errors.js";
import { runCli } from "./program.js";
import { exitCodeAfterWrites, StdStream } from "./std-streams.js";

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

runCli(process.argv.slice(2), { stdout, stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    stderr.write(`vrsky: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
