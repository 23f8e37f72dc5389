import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EVENT_LEVELS } from "../../../engine/cli/log/event-levels.js";
import { packageRoot } from "../../../engine/util/package-root.js";

const ROOT = packageRoot();

/** Every .ts file under engine/, with its text. */
function engineSources(): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = join(dir, d.name);
      if (d.isDirectory()) walk(rel);
      else if (d.name.endsWith(".ts")) out.push({ file: rel, text: readFileSync(join(ROOT, rel), "utf8") });
    }
  };
  walk("engine");
  return out;
}

/** Event names logged with a literal: `log("x"`, `log?.("x"`, `this.o.log("x"`, and the gateway's throttled lines. */
const LOGGED = [/\blog\??\.?\(\s*"([a-z0-9-]+)"/g, /\.note\(\s*[^,]+,\s*"([a-z0-9-]+)"/g];

/** The rows of the event table of docs/operations.md#levels: event → the first level named in its level cell. */
function docRows(): Map<string, { level: string; msg: string }> {
  const doc = readFileSync(join(ROOT, "docs/operations.md"), "utf8");
  const from = doc.indexOf("| event | level | msg |");
  expect(from, "docs/operations.md has the event table").to.be.greaterThan(0);
  const rows = new Map<string, { level: string; msg: string }>();
  for (const line of doc.slice(from).split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const [event, level, msg] = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    rows.set(event!.replace(/`/g, ""), { level: /`([a-z]+)`/.exec(level!)?.[1] ?? level!, msg: msg! });
  }
  return rows;
}

describe("cli: the event level table, the code and the docs in step", () => {
  const sources = engineSources();

  it("every event the engine logs by name has a row", () => {
    const missing: string[] = [];
    for (const { file, text } of sources)
      for (const re of LOGGED)
        for (const m of text.matchAll(re)) if (!Object.hasOwn(EVENT_LEVELS, m[1]!)) missing.push(`${file}: ${m[1]}`);
    expect(missing, "add them to EVENT_LEVELS (engine/cli/log/event-levels.ts) and docs/operations.md").to.deep.equal(
      [],
    );
  });

  it("every row names an event the engine logs", () => {
    const all = sources.map((s) => s.text).join("\n");
    const unused = Object.keys(EVENT_LEVELS).filter((event) => {
      // `nats-${s.type}` for the connection's disconnect and reconnect.
      const nats = /^nats-(disconnect|reconnect)$/.exec(event);
      if (nats) return !(all.includes("log(`nats-${s.type}`") && all.includes(`"${nats[1]}"`));
      return !all.includes(`"${event}"`);
    });
    expect(unused).to.deep.equal([]);
  });

  it("docs/operations.md lists every event with its level and message, in the table's order", () => {
    const rows = docRows();
    expect([...rows.keys()]).to.deep.equal(Object.keys(EVENT_LEVELS));
    for (const [event, row] of Object.entries(EVENT_LEVELS)) {
      expect(rows.get(event)?.level, event).to.equal(row.level);
      expect(rows.get(event)?.msg, event).to.equal(row.msg);
    }
  });
});
