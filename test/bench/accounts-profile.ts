/** In-process CPU profile (node:inspector) of a stretch of the benchmark, summarised by self time. */
import { Session } from "node:inspector/promises";
import { basename } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  what: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  sampledMs: number;
  /** Self time by npm package, engine folder, or V8 pseudo-node (idle, GC, native code without a script). */
  modules: ProfileEntry[];
  entries: ProfileEntry[];
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native code)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "node: built-in modules";
  const engine = /\/dist\/(engine\/[^/]+|test)\//.exec(url);
  return engine ? engine[1]! : basename(url);
}

export class InProcessProfiler {
  private session = new Session();

  async start(): Promise<void> {
    this.session.connect();
    await this.session.post("Profiler.enable");
    await this.session.post("Profiler.setSamplingInterval", { interval: 500 });
    await this.session.post("Profiler.start");
  }

  /**
   * Stops and returns the top entries by self time: per function (file:line) and per module (package or engine
   * folder). With `lastMs`, only the samples of the profile's last `lastMs` count (a profiler started ahead of the
   * stretch of interest, so that starting it does not fall into that stretch).
   */
  async stop(top = 20, lastMs?: number): Promise<ProfileSummary> {
    const { profile } = (await this.session.post("Profiler.stop")) as unknown as { profile: Profile };
    this.session.disconnect();
    if (lastMs !== undefined) windowHits(profile, profile.endTime - lastMs * 1000);
    const totalHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    const sampledMs =
      lastMs !== undefined
        ? Math.min(lastMs, (profile.endTime - profile.startTime) / 1000)
        : (profile.endTime - profile.startTime) / 1000;
    const byFunction = new Map<string, number>();
    const byModule = new Map<string, number>();
    const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
    for (const n of profile.nodes) {
      const f = n.callFrame;
      const hits = n.hitCount ?? 0;
      add(
        byFunction,
        f.url
          ? `${f.functionName || "(anonymous)"} ${basename(f.url)}:${f.lineNumber + 1}`
          : f.functionName || "(anonymous)",
        hits,
      );
      add(byModule, moduleOf(f.url, f.functionName), hits);
    }
    const rank = (m: Map<string, number>, k: number) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, k)
        .map(([what, hits]) => ({
          what,
          selfMs: Math.round((hits / totalHits) * sampledMs),
          share: Math.round((hits / totalHits) * 1000) / 10,
        }));
    return { sampledMs: Math.round(sampledMs), modules: rank(byModule, 15), entries: rank(byFunction, top) };
  }
}

/** Recounts each node's hits from the samples taken at or after `fromUs` (the profile's clock, µs). */
function windowHits(profile: Profile, fromUs: number): void {
  const { samples, timeDeltas } = profile;
  if (!samples || !timeDeltas) return;
  const hits = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (t >= fromUs) hits.set(samples[i]!, (hits.get(samples[i]!) ?? 0) + 1);
  }
  for (const n of profile.nodes) n.hitCount = hits.get(n.id) ?? 0;
}

export function renderProfile(title: string, p: ProfileSummary): string {
  const line = (e: ProfileEntry) => `  ${String(e.share).padStart(5)}%  ${String(e.selfMs).padStart(6)} ms  ${e.what}`;
  return [
    `${title} (${p.sampledMs} ms sampled, self time)`,
    "by module:",
    ...p.modules.map(line),
    "by function:",
    ...p.entries.map(line),
    "",
  ].join("\n");
}
