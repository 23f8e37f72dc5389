/**
 * `vrsky dlq` output: the versioned JSON forms (docs/cli.md documents them) and the text renderings. Everything
 * that comes from a message (ids, headers, bodies, error texts) is printed through `printable`, so a message cannot
 * send terminal escapes or fake lines.
 */
import { HEADERS } from "../../contract/dataplane.js";
import type { DeadLetter } from "../../dataplane/dead-letters.js";
import type { ReplayResult } from "../../dataplane/dead-letter-replay.js";
import { printable, printableBlock, utf8Text } from "../../text/printable.js";

/** One dead letter in `dlq list --format json`. */
export interface DeadLetterSummary {
  seq: number;
  messageId: string;
  storedAt: string;
  deadAt: string | null;
  at: { role: string; index: number; name?: string; type: string } | null;
  code: string | null;
  errorClass: string | null;
  error: string | null;
  httpStatus: number | null;
  attempts: number | null;
  firstAttemptAt: string | null;
  lastAttemptAt: string | null;
  revision: string | null;
  deliveredSinks: string[];
  failedSinks: string[];
  size: number;
  payloadRef: string | null;
}

export function summary(dl: DeadLetter): DeadLetterSummary {
  const c = dl.context;
  return {
    seq: dl.seq,
    messageId: dl.messageId,
    storedAt: dl.storedAt,
    deadAt: c?.deadAt ?? null,
    at: c?.at ?? null,
    code: c?.code ?? null,
    errorClass: c?.errorClass ?? null,
    error: c?.error ?? null,
    httpStatus: c?.httpStatus ?? null,
    attempts: c?.attempts ?? null,
    firstAttemptAt: c?.firstAttemptAt ?? null,
    lastAttemptAt: c?.lastAttemptAt ?? null,
    revision: c?.revision ?? null,
    deliveredSinks: c?.deliveredSinks ?? [],
    failedSinks: c?.failedSinks ?? [],
    size: dl.size,
    payloadRef: dl.payloadRef ?? null,
  };
}

/** `sink 1 slack (http)`, `step 0 (filter)`. */
export function whereText(at: DeadLetterSummary["at"]): string {
  if (!at) return "-";
  return `${at.role} ${at.index}${at.name ? ` ${printable(at.name)}` : ""} (${printable(at.type)})`;
}

const ID_WIDTH = 40;

function cut(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, width - 1)}…`;
}

/** The `dlq list` table, oldest first. */
export function renderList(items: DeadLetterSummary[], matched: number, about: string): string {
  if (items.length === 0) return `no dead letters of ${about}\n`;
  const rows = items.map((d) => [
    String(d.seq),
    cut(printable(d.messageId), ID_WIDTH),
    d.deadAt ?? d.storedAt,
    d.at ? whereText(d.at) : "-",
    d.code ?? "-",
    d.httpStatus === null ? "-" : String(d.httpStatus),
    d.attempts === null ? "-" : String(d.attempts),
  ]);
  const head = ["SEQ", "MESSAGE ID", "DEAD AT", "FAILED AT", "CODE", "HTTP", "ATTEMPTS"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 || i >= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(head), ...rows.map(line)];
  const more = matched - items.length;
  out.push(
    more > 0
      ? `${items.length} of ${matched} dead letters of ${about} (the newest; --limit shows more)`
      : `${items.length} dead ${items.length === 1 ? "letter" : "letters"} of ${about}`,
  );
  return out.join("\n") + "\n";
}

/** The body of `dlq show --format json`: text when it is UTF-8, else base64; absent when not read. */
export interface BodyView {
  size: number;
  contentType: string | null;
  /** The body is in the integration's object store (`objectStore`, object `payloadRef`). */
  inObjectStore: boolean;
  objectStore?: string;
  /** False when the body is in the object store and was not read (`--body` reads it). */
  included: boolean;
  encoding?: "utf8" | "base64";
  data?: string;
  /** The object is gone from the object store. */
  missing?: boolean;
}

export function bodyView(dl: DeadLetter, objectStore: string, body: Uint8Array | null | undefined): BodyView {
  const base: BodyView = {
    size: dl.size,
    contentType: dl.message?.contentType ?? null,
    inObjectStore: Boolean(dl.payloadRef),
    ...(dl.payloadRef ? { objectStore } : {}),
    included: false,
  };
  if (body === undefined) return base;
  if (body === null) return { ...base, missing: true };
  const text = utf8Text(body);
  return text !== undefined
    ? { ...base, included: true, encoding: "utf8", data: text }
    : { ...base, included: true, encoding: "base64", data: Buffer.from(body).toString("base64") };
}

export function showJson(dl: DeadLetter, body: BodyView): Record<string, unknown> {
  return {
    seq: dl.seq,
    messageId: dl.messageId,
    storedAt: dl.storedAt,
    context: dl.context,
    headers: dl.headers,
    message: dl.message
      ? {
          contentType: dl.message.contentType,
          attributes: dl.message.attributes,
          headers: dl.message.headers,
          size: dl.message.size,
          payloadRef: dl.message.payloadRef ?? null,
          replaySinks: dl.message.replaySinks ?? null,
        }
      : null,
    body,
  };
}

/** Everything of one dead letter, for a person. */
export function renderShow(dl: DeadLetter, body: BodyView, about: string): string {
  const s = summary(dl);
  const c = dl.context;
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${`${name}:`.padEnd(16)}${value}`);
  lines.push(`dead letter ${dl.seq} of ${about}, stored ${dl.storedAt}`);
  field("message id", printable(dl.messageId) || "-");
  if (c) {
    field(
      "dead at",
      `${s.deadAt ?? "-"} after ${s.attempts ?? "?"} attempts (first ${s.firstAttemptAt ?? "-"}, last ${s.lastAttemptAt ?? "-"})`,
    );
    field("failed at", whereText(s.at));
    field(
      "error",
      `${printable(s.code ?? "-")} (${printable(s.errorClass ?? "-")})${s.httpStatus !== null ? ` http ${s.httpStatus}` : ""}: ${printable(s.error ?? "")}`,
    );
    field("revision", printable(s.revision ?? "-"));
    field("ingest seq", String(c.ingestSeq ?? "-"));
    field("delivered to", s.deliveredSinks.length ? s.deliveredSinks.map(printable).join(", ") : "-");
    field("failed sinks", s.failedSinks.length ? s.failedSinks.map(printable).join(", ") : "-");
  } else {
    field("context", `none: no valid ${HEADERS.deadLetter} header`);
  }
  if (dl.message) {
    field("attributes", printable(JSON.stringify(dl.message.attributes)));
    field("msg headers", printable(JSON.stringify(dl.message.headers)));
  }
  lines.push("stored headers:");
  for (const [name, value] of dl.headers) lines.push(`  ${printable(name)}: ${printable(value)}`);
  lines.push(bodyLine(body));
  if (body.included && body.encoding === "utf8") lines.push(printableBlock(body.data ?? ""));
  return lines.join("\n") + "\n";
}

function bodyLine(b: BodyView): string {
  const type = b.contentType ? `${printable(b.contentType)}, ` : "";
  const where = b.inObjectStore ? ` in the object store ${b.objectStore}` : "";
  if (b.missing) return `body (${type}${b.size} bytes${where}): gone from the object store (VRS_PAYLOAD_MISSING)`;
  if (!b.included) return `body (${type}${b.size} bytes${where}): not shown; print it with --body`;
  if (b.encoding === "base64") return `body (${type}${b.size} bytes${where}): not UTF-8 text; print it with --body`;
  return `body (${type}${b.size} bytes${where}):`;
}

/** One line per replayed dead letter. */
export function replayLine(r: ReplayResult): string {
  const what = `dead letter ${r.seq} (message ${printable(r.messageId)})`;
  const to = r.sinks ? `only to ${r.sinks.map(printable).join(", ")}` : "to every sink";
  const del = r.deleted ? "dead letter deleted" : "dead letter was gone already";
  if (r.outcome === "failed") return `failed: ${what}: ${r.error!.code} ${printable(r.error!.message)}`;
  const tail = r.error ? `; ${r.error.code} ${printable(r.error.message)}` : `; ${del}`;
  if (r.outcome === "duplicate")
    return `${what}: replayed before as ${printable(r.replayId)} within the de-duplication window, stored once (ingest seq ${r.ingestSeq})${tail}`;
  return `replayed ${what} as ${printable(r.replayId)}: ingest seq ${r.ingestSeq}, ${to}${tail}`;
}

export interface ReplayCounts {
  replayed: number;
  duplicate: number;
  failed: number;
  notFound: number;
}

export function countReplays(results: ReplayResult[], notFound: number): ReplayCounts {
  return {
    replayed: results.filter((r) => r.outcome === "replayed").length,
    duplicate: results.filter((r) => r.outcome === "duplicate").length,
    failed: results.filter((r) => r.outcome === "failed").length,
    notFound,
  };
}
