import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  isAlias,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from "yaml";
import type { FileFinding } from "../errors/finding.js";
import type { Code } from "../errors/codes.js";
import type { InputLimits } from "./limits.js";
import { formatPath, type PathSegment } from "./json-path.js";

/** One parsed YAML document, kept only while the file is being validated. */
export interface SourceDocument {
  /** The plain value (JSON data model); undefined when the document could not be read. */
  value: unknown;
  /** Line/column of a field path; falls back to the nearest existing ancestor. */
  locate(path: readonly PathSegment[], preferKey?: boolean): { line: number; column: number };
  /** Index of the document within its file, 0-based. */
  index: number;
}

export interface SourceFile {
  documents: SourceDocument[];
  findings: FileFinding[];
  /** Non-empty documents in the file, including those that could not be read. */
  documentCount: number;
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** Tags that keep values within the JSON data model; anything else (!!binary, !!set, custom) is refused. */
const PLAIN_TAGS = new Set([
  "tag:yaml.org,2002:str",
  "tag:yaml.org,2002:int",
  "tag:yaml.org,2002:float",
  "tag:yaml.org,2002:bool",
  "tag:yaml.org,2002:null",
  "tag:yaml.org,2002:map",
  "tag:yaml.org,2002:seq",
]);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function at(code: Code, message: string, line = 1, column = 1, path = ""): FileFinding {
  return { line, column, path, code, message };
}

/** Decodes and parses a manifest file defensively: every problem becomes a finding, nothing throws. */
export function readSource(bytes: Uint8Array, limits: InputLimits): SourceFile {
  if (bytes.length > limits.maxFileBytes) {
    return fail(at("VRS_FILE_TOO_LARGE", `file is ${bytes.length} bytes; the limit is ${limits.maxFileBytes} bytes`));
  }
  if (bytes.includes(0)) return fail(at("VRS_FILE_BINARY", "file contains NUL bytes: it is binary, not YAML"));
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    const { line, column } = firstInvalidUtf8(bytes);
    return fail(at("VRS_FILE_NOT_UTF8", "file is not valid UTF-8", line, column));
  }
  const depth = nestingEstimate(text);
  if (depth > PRESCAN_MAX_NESTING) {
    return fail(
      at(
        "VRS_YAML_TOO_DEEP",
        `the document nests too deeply (estimate ${depth}); documents may nest at most ${limits.maxDepth} levels`,
      ),
    );
  }
  return parseText(text, limits);
}

/**
 * The parser recurses once per nesting level and runs out of stack somewhere past ~400 levels, after which
 * the process is in no state to go on. So before parsing, nesting is over-estimated cheaply and anything
 * implausible is refused; the exact limit (InputLimits.maxDepth) is checked on the parsed tree.
 */
export const PRESCAN_MAX_NESTING = 256;

/**
 * Over-estimates nesting: the deepest run of unclosed `[`/`{` anywhere (quoted or not, so quotes cannot hide
 * brackets), and per line its indentation plus its compact block indicators (`- `, `? `, `: `).
 */
function nestingEstimate(text: string): number {
  let depth = 0;
  let max = 0;
  let lineStart = true;
  let indent = 0;
  let tokens = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) {
      lineStart = true;
      indent = 0;
      tokens = 0;
      continue;
    }
    if (lineStart && (ch === 32 || ch === 9)) {
      if (++indent + tokens > max) max = indent + tokens;
      continue;
    }
    lineStart = false;
    if (ch === 91 || ch === 123) {
      if (++depth > max) max = depth;
    } else if ((ch === 93 || ch === 125) && depth > 0) {
      depth--;
    } else if ((ch === 45 || ch === 63 || ch === 58) && text.charCodeAt(i + 1) === 32) {
      if (indent + ++tokens > max) max = indent + tokens;
    }
  }
  return max;
}

function fail(f: FileFinding): SourceFile {
  return { documents: [], findings: [f], documentCount: 1 };
}

function parseText(text: string, limits: InputLimits): SourceFile {
  const lc = new LineCounter();
  const pos = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, {
      lineCounter: lc,
      uniqueKeys: true,
      prettyErrors: false,
      strict: true,
    }) as Document.Parsed[];
  } catch (e) {
    if (e instanceof RangeError) return fail(at("VRS_YAML_TOO_DEEP", "document is nested too deeply to parse"));
    throw e;
  }
  if (!Array.isArray(docs)) docs = [docs];
  const findings: FileFinding[] = [];
  const documents: SourceDocument[] = [];
  if (docs.length > limits.maxDocumentsPerFile) {
    return fail(
      at("VRS_YAML_SYNTAX", `file holds ${docs.length} documents; the limit is ${limits.maxDocumentsPerFile}`),
    );
  }
  docs.forEach((doc, index) => {
    const before = findings.length;
    // The parser reports running out of stack (very deep nesting) as RESOURCE_EXHAUSTION, possibly many
    // times over: one VRS_YAML_TOO_DEEP per document says it all.
    if (doc.errors.some((e) => e.code === "RESOURCE_EXHAUSTION")) {
      findings.push(at("VRS_YAML_TOO_DEEP", "document is nested too deeply to parse"));
      return;
    }
    for (const err of doc.errors) {
      const { line, column } = pos(err.pos[0]);
      const code: Code = err.code === "DUPLICATE_KEY" ? "VRS_YAML_DUPLICATE_KEY" : "VRS_YAML_SYNTAX";
      findings.push(at(code, firstLine(err.message), line, column));
    }
    for (const w of doc.warnings) {
      const { line, column } = pos(w.pos[0]);
      const code: Code = w.code === "TAG_RESOLVE_FAILED" ? "VRS_YAML_UNSUPPORTED_TAG" : "VRS_YAML_SYNTAX";
      findings.push(at(code, firstLine(w.message), line, column));
    }
    if (findings.length > before) return;
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
      // An empty document between separators (e.g. a trailing `---`) is skipped; an empty file is reported below.
      return;
    }
    const shape = checkShape(doc.contents, limits, pos);
    if (shape) {
      findings.push(shape);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (e) {
      const message = e instanceof Error ? firstLine(e.message) : String(e);
      const code: Code = /excessive alias count/i.test(message) ? "VRS_YAML_ALIAS_LIMIT" : "VRS_YAML_SYNTAX";
      findings.push(at(code, message));
      return;
    }
    documents.push({ value, index, locate: (path, preferKey) => locateIn(doc, path, preferKey ?? false, pos) });
  });
  if (documents.length === 0 && findings.length === 0)
    findings.push(at("VRS_YAML_EMPTY", "the file holds no manifest"));
  const documentCount = docs.filter(
    (d) => !(d.contents === null || (isScalar(d.contents) && d.contents.value === null)) || d.errors.length > 0,
  ).length;
  return { documents, findings, documentCount };
}

/** Walks the node tree iteratively: depth limit, forbidden keys, alias counting happens in toJS. */
function checkShape(
  root: Node,
  limits: InputLimits,
  pos: (o: number) => { line: number; column: number },
): FileFinding | undefined {
  const stack: Array<{ node: unknown; depth: number; path: PathSegment[] }> = [{ node: root, depth: 0, path: [] }];
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop()!;
    if (depth > limits.maxDepth) {
      const where = rangeStart(node);
      const p = where === undefined ? { line: 1, column: 1 } : pos(where);
      return at("VRS_YAML_TOO_DEEP", `nesting exceeds ${limits.maxDepth} levels`, p.line, p.column, formatPath(path));
    }
    const tag = (node as { tag?: string } | null)?.tag;
    if (tag !== undefined && !PLAIN_TAGS.has(tag)) {
      const where = rangeStart(node);
      const p = where === undefined ? { line: 1, column: 1 } : pos(where);
      return at(
        "VRS_YAML_UNSUPPORTED_TAG",
        `tag ${tag.replace("tag:yaml.org,2002:", "!!")} is not allowed`,
        p.line,
        p.column,
        formatPath(path),
      );
    }
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const key = isScalar(item.key) ? item.key.value : undefined;
        if (typeof key === "string" && FORBIDDEN_KEYS.has(key)) {
          const where = rangeStart(item.key);
          const p = where === undefined ? { line: 1, column: 1 } : pos(where);
          return at(
            "VRS_YAML_FORBIDDEN_KEY",
            `key '${key}' is not allowed`,
            p.line,
            p.column,
            formatPath([...path, key]),
          );
        }
        if (!isScalar(item.key) && item.key !== null) {
          const where = rangeStart(item.key);
          const p = where === undefined ? { line: 1, column: 1 } : pos(where);
          return at("VRS_YAML_SYNTAX", "mapping keys must be plain scalars", p.line, p.column, formatPath(path));
        }
        stack.push({ node: item.value, depth: depth + 1, path: [...path, String(key)] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, depth: depth + 1, path: [...path, i] }));
    } else if (isAlias(node)) {
      // Resolved by toJS under maxAliasCount.
    }
  }
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  return r ? r[0] : undefined;
}

function locateIn(
  doc: Document.Parsed,
  path: readonly PathSegment[],
  preferKey: boolean,
  pos: (o: number) => { line: number; column: number },
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let best = rangeStart(node) ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyStart = rangeStart(pair.key);
      const valueStart = rangeStart(pair.value);
      best = (seg === path[path.length - 1] && preferKey ? keyStart : (valueStart ?? keyStart)) ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (item === undefined) break;
      best = rangeStart(item) ?? best;
      node = item;
    } else {
      break;
    }
  }
  return pos(best);
}

function firstLine(s: string): string {
  const line = s.split("\n")[0] ?? s;
  return line.replace(/\s+at line \d+, column \d+:?$/, "").trim();
}

function firstInvalidUtf8(bytes: Uint8Array): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0) return { line, column: i - lineStart + 1 };
    try {
      utf8.decode(bytes.subarray(i, i + n));
    } catch {
      return { line, column: i - lineStart + 1 };
    }
    if (b === 10) {
      line++;
      lineStart = i + 1;
    }
    i += n;
  }
  return { line, column: 1 };
}
