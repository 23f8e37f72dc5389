/**
 * The demo runner (`npm run demo`, engine/demo/main.ts; the end-to-end test runs it too): sets up a DemoSession,
 * runs the four demos one after the other, prints what each sent and what arrived, and takes everything down.
 */
import { demoCdc, demoCsv, demoGithub, demoOrders, type Say } from "./demos.js";
import { DemoSession, secs } from "./session.js";

export interface DemoOutcome {
  demo: number;
  title: string;
  status: "passed" | "skipped" | "failed";
  seconds: number;
  error?: string;
  /** What the demo saw (the result of its function). */
  result?: unknown;
}

const DEMOS = [
  { title: "GitHub webhook (signed) → map → Slack", file: "github-to-slack", run: demoGithub },
  { title: "CSV file in a folder → csv → PostgreSQL upsert", file: "csv-to-postgres", run: demoCsv },
  { title: "PostgreSQL changes (CDC) → map → HTTP API, with retries", file: "customers-to-api", run: demoCdc },
  { title: "HTTP order → filter and route → PostgreSQL and Slack", file: "orders-routing", run: demoOrders },
] as const;

export interface RunOptions {
  say: Say;
  /** Called with the session once it exists, so that a signal handler can take it down. */
  onSession?: (s: DemoSession) => void;
}

export async function runDemos(o: RunOptions): Promise<DemoOutcome[]> {
  const { say } = o;
  const session = new DemoSession(say);
  o.onSession?.(session);
  const out: DemoOutcome[] = [];
  try {
    say("Setting up (everything local, on free ports):");
    await session.open();
    for (const [i, d] of DEMOS.entries()) {
      say("");
      say(`▶ Demo ${i + 1}: ${d.title}   (integrations/demo/${d.file}.yaml)`);
      const t = Date.now();
      try {
        const result = (await d.run(session, say)) as { skipped?: string };
        const status = result.skipped ? "skipped" : "passed";
        out.push({ demo: i + 1, title: d.title, status, seconds: (Date.now() - t) / 1000, result });
        say(status === "passed" ? `✓ Demo ${i + 1} works (${secs(t)})` : `– Demo ${i + 1} skipped`);
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        out.push({ demo: i + 1, title: d.title, status: "failed", seconds: (Date.now() - t) / 1000, error });
        say(`✗ Demo ${i + 1} failed: ${error}`);
        say(`  the engine's log: ${session.logFile} (kept until the end of the run)`);
      }
    }
  } finally {
    say("");
    say("Cleaning up: stopping vrsky up, the stand-ins and PostgreSQL, removing the working folder…");
    await session.close();
  }
  return out;
}
