import { readFileSync } from "node:fs";

/** Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): where the time goes, by area and by function. */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by area: yaml, ajv, cel-js, an engine file, node internals, GC, idle (waiting, e.g. for git). */
  areas: ProfileEntry[];
  /** Functions with the most self time. */
  self: ProfileEntry[];
  /** Engine functions with the most total time (self and callees). */
  inclusive: ProfileEntry[];
}

export function areaOf(f: CallFrame): string {
  const { url, functionName } = f;
  if (url === "") {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(idle)") return "idle (waiting for I/O, e.g. git)";
    if (functionName === "(program)" || functionName === "(root)") return "V8/native (program)";
    if (/^validate\d+$/.test(functionName)) return "ajv (compiled validators)";
    return "native/other";
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1]!;
  const engine = /\/dist\/(engine\/.*?)\.js$/.exec(url);
  if (engine) return engine[1]!;
  if (url.startsWith("node:")) return "node internals";
  return url.replace(/^file:\/\//, "");
}

function label(f: CallFrame): string {
  const where = areaOf(f);
  return `${f.functionName || "(anonymous)"} [${where}${f.url && !f.url.includes("node_modules") && !f.url.startsWith("node:") ? `:${f.lineNumber + 1}` : ""}]`;
}

export function summarise(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfById.set(id, (selfById.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...selfById.values()].reduce((a, b) => a + b, 0);
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfById) {
    const node = byId.get(id)!;
    const area = areaOf(node.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const l = label(node.callFrame);
    self.set(l, (self.get(l) ?? 0) + us);
    // Total time: each engine function on the stack once, however deep the recursion.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!f.url.includes("/dist/engine/")) continue;
      const k = label(f);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const list = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: total > 0 ? us / total : 0 }));
  return { totalMs: total / 1000, areas: list(areas, top), self: list(self, top), inclusive: list(inclusive, top) };
}

export function renderSummary(title: string, s: ProfileSummary): string {
  const rows = (xs: ProfileEntry[]) =>
    xs
      .map((e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(6)} ms  ${e.name}`)
      .join("\n");
  return [
    `${title}: ${s.totalMs.toFixed(0)} ms sampled`,
    "  self time by area:",
    rows(s.areas),
    "  self time by function:",
    rows(s.self),
    "  total time of engine functions:",
    rows(s.inclusive),
    "",
  ].join("\n");
}
