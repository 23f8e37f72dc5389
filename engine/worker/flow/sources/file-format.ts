/**
 * What the `file` source makes of one file, by `format` (docs/manifests.md, the file source):
 *
 * - `text`: one message per line (text/plain, the line without its end; empty lines skipped), read as a stream;
 * - `csv`: one message per chunk of up to CSV_CHUNK_ROWS rows (text/csv), read as a stream: each chunk starts
 *   with the file's first row (the header), then whole records (a quoted field may span lines), so the `csv` step
 *   reads every chunk with `header: true`; attribute `lineOffset` turns a line of the chunk into a line of the file;
 * - `json`, `xml`: the whole file as one message (application/json, application/xml);
 * - `binary`: the whole file as one message, base64 text (application/octet-stream, attribute `encoding: base64`);
 *   a whole-file format refuses a file over MAX_WHOLE_FILE_BYTES (FileRefused).
 *
 * Message ids are `f-<file id>-<n>` (n: the line for text, the chunk for csv, 0 for the whole file), the file id
 * a hash of the file's name, size and modification time: a file read again after a crash gives the same ids, which
 * the ingest stream's de-duplication stores once.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { IngestEnvelope } from "../../../dataplane/wire.js";

export type FileFormat = "json" | "text" | "binary" | "csv" | "xml";

/** The largest file read as one message (json, xml, binary); a larger one is set aside, never read. */
export const MAX_WHOLE_FILE_BYTES = 64 * 1024 * 1024;

/** A file that cannot be read as its format says (too large to be one message). */
export class FileRefused extends Error {
  override name = "FileRefused";
}

/** Rows per csv message at most (and CSV_CHUNK_BYTES of text). */
export const CSV_CHUNK_ROWS = 1000;
export const CSV_CHUNK_BYTES = 1024 * 1024;

const CONTENT_TYPES: Readonly<Record<FileFormat, string>> = {
  json: "application/json",
  text: "text/plain",
  binary: "application/octet-stream",
  csv: "text/csv",
  xml: "application/xml",
};

const encoder = new TextEncoder();

/** A file as the source found it. */
export interface FileFacts {
  name: string;
  size: number;
  mtimeMs: number;
}

/** The id of a file's content as found: name, size and modification time (kept by a rename). */
export function fileId(f: FileFacts): string {
  return createHash("sha256").update(`${f.name}\0${f.size}\0${f.mtimeMs}`).digest("hex").slice(0, 24);
}

/** A glob of file names as a RegExp: `*`, `?`, `[abc]`, `[!abc]`, `{a,b}`; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) {
        out += "\\[";
        continue;
      }
      let set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      out += `[${set}]`;
      i = end;
    } else if (c === "{") {
      braces++;
      out += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      out += ")";
    } else if (c === "," && braces > 0) out += "|";
    else out += c.replace(/[.+^$()|\\{}]/g, "\\$&");
  }
  return new RegExp(`^${out}${")".repeat(braces)}$`);
}

/** The messages of one file, in order, read as a stream where the format allows. */
export async function* fileMessages(
  path: string,
  facts: FileFacts,
  format: FileFormat,
  receivedAt: string,
): AsyncGenerator<IngestEnvelope> {
  const id = fileId(facts);
  const contentType = CONTENT_TYPES[format];
  const base = { source: "file", receivedAt, file: facts.name };
  const envelope = (n: number, body: Uint8Array, more: Record<string, number | string> = {}): IngestEnvelope => ({
    id: `f-${id}-${n}`,
    contentType,
    headers: {},
    attributes: { ...base, ...more },
    body,
  });
  if (format === "text") {
    let line = 0;
    for await (const text of lines(path)) {
      line++;
      if (text !== "") yield envelope(line, encoder.encode(text), { line });
    }
    return;
  }
  if (format === "csv") {
    let chunk = 0;
    for await (const c of csvChunks(path)) yield envelope(chunk++, encoder.encode(c.text), { lineOffset: c.offset });
    return;
  }
  if (facts.size > MAX_WHOLE_FILE_BYTES) {
    throw new FileRefused(
      `${facts.name}: ${facts.size} bytes is more than ${MAX_WHOLE_FILE_BYTES} bytes, the most a ${format} file may be as one message`,
    );
  }
  const parts: Buffer[] = [];
  for await (const b of createReadStream(path)) parts.push(b as Buffer);
  const all = Buffer.concat(parts);
  if (format === "binary") yield envelope(0, encoder.encode(all.toString("base64")), { encoding: "base64" });
  else yield envelope(0, all);
}

function lines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
}

/** A chunk of a CSV file: its text (header first), and file line = chunk line + offset for its rows. */
export interface CsvChunk {
  text: string;
  offset: number;
}

/**
 * The file's records, in chunks, each starting with the header record. A record ends at a line end outside
 * quotes: the count of `"` so far is even (an escaped quote `""` keeps it so).
 */
export async function* csvChunks(path: string): AsyncGenerator<CsvChunk> {
  yield* chunkRecords(lines(path));
}

export async function* chunkRecords(source: AsyncIterable<string> | Iterable<string>): AsyncGenerator<CsvChunk> {
  let header: string | undefined;
  let headerLines = 0;
  let record: string[] = [];
  let quotes = 0;
  let line = 0;
  let recordStart = 0;
  let rows: string[] = [];
  let rowLines = 0;
  let bytes = 0;
  let firstLine = 0;
  const flush = (): CsvChunk => {
    // Chunk line headerLines + 1 is file line firstLine.
    const c = { text: `${header}\n${rows.join("\n")}\n`, offset: firstLine - headerLines - 1 };
    rows = [];
    rowLines = 0;
    bytes = 0;
    return c;
  };
  for await (const text of source) {
    line++;
    if (record.length === 0) recordStart = line;
    record.push(text);
    for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) quotes++;
    if (quotes % 2 === 1) continue;
    const whole = record.join("\n");
    const count = record.length;
    record = [];
    quotes = 0;
    if (header === undefined) {
      header = whole;
      headerLines = count;
      continue;
    }
    if (whole === "") continue;
    // A chunk's rows are consecutive lines of the file, blank lines kept as blank lines so the offset holds.
    if (rows.length === 0) firstLine = recordStart;
    else for (let k = firstLine + rowLines; k < recordStart; k++) rows.push("");
    rows.push(whole);
    rowLines = recordStart + count - firstLine;
    bytes += whole.length;
    if (rows.length >= CSV_CHUNK_ROWS || bytes >= CSV_CHUNK_BYTES) yield flush();
  }
  // A quote left open: what is left goes as it is (the csv step reports it as a bad row).
  if (record.length > 0 && header !== undefined) {
    if (rows.length === 0) firstLine = recordStart;
    rows.push(record.join("\n"));
  }
  if (rows.length > 0) yield flush();
}
