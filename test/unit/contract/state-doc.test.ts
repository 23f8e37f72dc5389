import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { BUCKET_REGISTRY } from "../../../engine/contract/buckets.js";
import { RECORD_FIELDS, RECORD_FORMATS, type RecordFormat } from "../../../engine/contract/records.js";
import { packageRoot } from "../../../engine/util/package-root.js";

const DOC = "docs/state.md";
const FORMAT_TOKEN = /vrsky\.io\/[a-z-]+\/v\d+/g;
const BUCKET_HEADER = ["bucket", "history", "key", "record", "writer", "readers"];
const FIELD_HEADER = ["field", "required", "meaning"];

function readDoc(): string {
  return readFileSync(join(packageRoot(), DOC), "utf8");
}

/** The page cut at its headings: each heading with the lines up to the next heading. */
function sections(doc: string): Array<{ heading: string; lines: string[] }> {
  const out: Array<{ heading: string; lines: string[] }> = [];
  for (const line of doc.split("\n")) {
    if (line.startsWith("#")) out.push({ heading: line, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

function cells(row: string): string[] {
  return row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((c) => c.trim());
}

/** The rows of the table with this header (the first one in `lines`); undefined when there is none. */
function table(lines: string[], header: string[]): string[][] | undefined {
  const start = lines.findIndex((l) => l.startsWith("|") && cells(l).join("|") === header.join("|"));
  if (start < 0) return undefined;
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(cells(line));
  }
  return rows;
}

/** The section whose heading names this format. */
function sectionOf(doc: string, format: RecordFormat): { heading: string; lines: string[] } | undefined {
  return sections(doc).find((s) => s.heading.includes(`\`${format}\``));
}

/** Each JSON object of the section's examples (one code block may hold several, separated by a blank line). */
function examples(lines: string[]): unknown[] {
  const out: unknown[] = [];
  const text = lines.join("\n");
  for (const block of text.matchAll(/```json\n([\s\S]*?)```/g)) {
    for (const part of block[1]!.split(/\n\s*\n/)) if (part.trim()) out.push(JSON.parse(part));
  }
  return out;
}

const sorted = <T>(xs: T[]): T[] => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

describe(`the KV contract (engine/contract) and ${DOC}`, () => {
  it("has one bucket table row per key of every bucket, with its history, key format, record, writer and readers", () => {
    const rows = table(readDoc().split("\n"), BUCKET_HEADER);
    expect(rows, `${DOC} has no table with the header | ${BUCKET_HEADER.join(" | ")} |`).to.be.an("array");
    const expected = Object.values(BUCKET_REGISTRY).flatMap((b) =>
      b.keys.map((k) => [`\`${b.name}\``, String(b.history), `\`${k.key}\``, `\`${k.record}\``, k.writer, k.readers]),
    );
    expect(sorted(rows!), `bucket table of ${DOC} against engine/contract/buckets.ts`).to.deep.equal(sorted(expected));
  });

  it("mentions no bucket the contract does not define", () => {
    const names = new Set<string>(Object.values(BUCKET_REGISTRY).map((b) => b.name));
    const mentioned = [...readDoc().matchAll(/`(vrsky-[a-z-]+)`/g)].map((m) => m[1]!);
    expect(
      [...new Set(mentioned.filter((n) => !names.has(n)))],
      `buckets in ${DOC} that are not buckets`,
    ).to.deep.equal([]);
  });

  it("has one section per record format, and none for a format the contract does not define", () => {
    const doc = readDoc();
    const headed = sections(doc).flatMap((s) => s.heading.match(FORMAT_TOKEN) ?? []);
    expect(headed.sort(), `formats in the headings of ${DOC}`).to.deep.equal([...RECORD_FORMATS].sort());
    const known = new Set<string>(RECORD_FORMATS);
    const unknown = [...new Set(doc.match(FORMAT_TOKEN) ?? [])].filter((f) => !known.has(f));
    expect(unknown, `formats in ${DOC} that engine/contract/records.ts does not define`).to.deep.equal([]);
  });

  it("lists the fields of each record format in its section, each required or not as the record type says", () => {
    const doc = readDoc();
    for (const format of RECORD_FORMATS) {
      const section = sectionOf(doc, format);
      expect(section, `${DOC} has no section for ${format}`).to.be.an("object");
      const rows = table(section!.lines, FIELD_HEADER);
      expect(rows, `the section of ${format} has no table | ${FIELD_HEADER.join(" | ")} |`).to.be.an("array");
      const documented = rows!.map((r) => [r[0], r[1]]);
      const defined = Object.entries(RECORD_FIELDS[format]).map(([field, presence]) => [
        `\`${field}\``,
        presence === "required" ? "yes" : "no",
      ]);
      expect(sorted(documented), `fields of ${format} in ${DOC} against RECORD_FIELDS`).to.deep.equal(sorted(defined));
    }
  });

  it("shows in each example exactly fields of its record, with every required one", () => {
    const doc = readDoc();
    for (const format of RECORD_FORMATS) {
      const fields = RECORD_FIELDS[format] as Record<string, "required" | "optional">;
      const shown = examples(sectionOf(doc, format)?.lines ?? []);
      expect(shown, `the section of ${format} has no JSON example`).to.not.be.empty;
      for (const example of shown) {
        const keys = Object.keys(example as object);
        expect(
          keys.filter((k) => !(k in fields)),
          `fields in an example of ${format} that the record does not have`,
        ).to.deep.equal([]);
        const required = Object.keys(fields).filter((f) => fields[f] === "required");
        expect(
          required.filter((f) => !keys.includes(f)),
          `required fields missing from an example of ${format}`,
        ).to.deep.equal([]);
        expect((example as { format?: string }).format, `format of an example in the section of ${format}`).to.equal(
          format,
        );
      }
    }
  });
});
