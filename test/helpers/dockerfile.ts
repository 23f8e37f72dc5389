/**
 * deploy/Dockerfile read as a builder reads it: instructions (continuation lines joined, comments dropped) grouped
 * by stage; and .dockerignore's patterns.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";

export const DOCKERFILE = join(packageRoot(), "deploy", "Dockerfile");
export const DOCKERIGNORE = join(packageRoot(), ".dockerignore");

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, ... */
  op: string;
  /** Everything after the instruction word, continuation lines joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** The `AS name`, or the stage's index when it has none. */
  name: string;
  from: string;
  instructions: Instruction[];
}

export function readInstructions(text = readFileSync(DOCKERFILE, "utf8")): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      line = `${line.trimEnd().slice(0, -1)} ${/^\s*#/.test(next) ? "" : next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`deploy/Dockerfile:${start + 1}: not an instruction: ${line}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** The stages, in order; ARGs before the first FROM are left out. */
export function stages(instructions = readInstructions()): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`deploy/Dockerfile:${ins.line}: FROM ${ins.args}`);
      out.push({ name: m[2] ?? String(out.length), from: m[1]!, instructions: [] });
    } else if (out.length > 0) {
      out[out.length - 1]!.instructions.push(ins);
    }
  }
  return out;
}

/** A COPY's sources and destination, and the stage it copies from (`--from=`), if any. */
export function copyParts(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = ins.args.startsWith("[") ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths[paths.length - 1]! };
}

/** The patterns of .dockerignore, without comments and blank lines. */
export function dockerignorePatterns(text = readFileSync(DOCKERIGNORE, "utf8")): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** Whether a path of the build context is left out by a pattern (the plain names and `**` forms used here). */
export function ignored(path: string, patterns: readonly string[]): boolean {
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const p = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, "");
    const re = new RegExp(
      `^${p
        .split("/")
        .map((part) =>
          part === "**"
            ? "(?:.*/)?"
            : `${part
                .replace(/[.+^${}()|[\]\\]/g, "\\$&")
                .replace(/\*/g, "[^/]*")
                .replace(/\?/g, "[^/]")}/`,
        )
        .join("")}`,
    );
    // A pattern matches the path itself or a folder above it.
    if (re.test(`${path}/`)) out = !negate;
  }
  return out;
}
