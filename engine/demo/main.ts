#!/usr/bin/env node
/**
 * `npm run demo`: the four demos of docs/demos.md, end to end on this machine. Exit 0 when every demo that can
 * run here worked, 1 when one failed, 130 on Ctrl-C (after cleaning up).
 */
import { runDemos } from "./run.js";
import type { DemoSession } from "./session.js";

const started = Date.now();
const say = (line: string) => process.stdout.write(line + "\n");
let session: DemoSession | undefined;
let interrupted = false;

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (interrupted) {
    // A second Ctrl-C: leave at once, taking the engine's process group down.
    session?.killNow();
    process.exit(130);
  }
  interrupted = true;
  say(`\n${signal}: cleaning up…`);
  try {
    await session?.close();
  } finally {
    process.exit(130);
  }
}
process.on("SIGINT", (s) => void onSignal(s));
process.on("SIGTERM", (s) => void onSignal(s));
process.on("exit", () => session?.killNow());

say("VRSky demos: the integrations in integrations/demo/, run by `vrsky up` (docs/demos.md)\n");
try {
  const outcomes = await runDemos({ say, onSession: (s) => (session = s) });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  say("");
  for (const o of outcomes)
    say(
      `  ${o.status === "passed" ? "✓" : o.status === "skipped" ? "–" : "✗"} ${o.demo}. ${o.title}: ${o.status} (${o.seconds.toFixed(1)} s)`,
    );
  const failed = outcomes.filter((o) => o.status === "failed").length;
  say(`\n${failed ? `✗ ${failed} demo(s) failed` : "✓ done"} in ${seconds} s.`);
  process.exitCode = failed || outcomes.length < 4 ? 1 : 0;
} catch (e) {
  say(`✗ the demos could not run: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
