/**
 * How an HTTP sink turns what happened to a request into an outcome (pure): a status into ok / unavailable /
 * rejected, `Retry-After` into milliseconds, a response body into a short printable excerpt, and a network error
 * into words that name neither the URL nor anything secret.
 */
import type { SinkOutcome } from "../types.js";

/** Characters of the receiver's answer kept in a rejection's error text. */
export const EXCERPT_CHARS = 200;

/** The outcome of a response with this status (the body excerpt only matters for a rejection). */
export function statusOutcome(
  status: number,
  successStatus: readonly number[],
  target: string,
  o: { retryAfter?: string | undefined; excerpt?: string; now?: number } = {},
): SinkOutcome {
  if (successStatus.includes(status)) return { ok: true, status };
  if (status >= 500 || status === 429 || status === 408) {
    const retryAfterMs = o.retryAfter === undefined ? undefined : parseRetryAfter(o.retryAfter, o.now ?? Date.now());
    return {
      ok: false,
      code: "VRS_SINK_UNAVAILABLE",
      error: `${target} answered ${status}${retryAfterMs !== undefined ? ` (retry after ${retryAfterMs} ms)` : ""}`,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  const said = o.excerpt ? `: ${o.excerpt}` : "";
  return { ok: false, code: "VRS_SINK_REJECTED", error: `${target} answered ${status}${said}`, status };
}

const HTTP_DATE = /^[A-Za-z]{3,9}, [0-9]{2}[ -][A-Za-z]{3}[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$/;

/**
 * `Retry-After` in ms: delay-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past
 * is 0. Undefined when the value is neither.
 */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) {
    const seconds = Number(v);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : undefined;
  }
  // The three date forms of RFC 9110 (IMF-fixdate, RFC 850, asctime); Date.parse alone would take far looser text.
  const gmt = HTTP_DATE.test(v) ? v : ASCTIME.test(v) ? `${v} GMT` : undefined;
  const at = gmt === undefined ? NaN : Date.parse(gmt);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The start of a response body, at most EXCERPT_CHARS, with control characters escaped (one line, printable). */
export function bodyExcerpt(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const chars = Array.from(text.trim());
  const cut = chars.length > EXCERPT_CHARS;
  let out = "";
  for (const ch of chars.slice(0, EXCERPT_CHARS)) out += escapeControl(ch);
  return cut ? `${out}…` : out;
}

function escapeControl(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c === 0x2028 || c === 0x2029)
    return `\\u${c.toString(16).padStart(4, "0")}`;
  return ch;
}

/** Words for the network error codes met when calling a receiver. */
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection closed while sending",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed temporarily",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EHOSTDOWN: "host down",
  ENETDOWN: "network down",
  ETIMEDOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the receiver",
  UND_ERR_CLOSED: "connection closed",
  UND_ERR_DESTROYED: "connection destroyed",
  UND_ERR_INFO: "invalid response",
  HPE_INVALID_CONSTANT: "invalid HTTP response",
  HPE_INVALID_STATUS: "invalid HTTP response",
  HPE_INVALID_HEADER_TOKEN: "invalid HTTP response header",
  HPE_HEADER_OVERFLOW: "response headers too large",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed TLS certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed TLS certificate in chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
};

/** Timeouts raised by undici itself (connect, headers, body). */
export const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** The first `code` along an error's cause chain (undici wraps some socket errors). */
export function errorCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A network failure in words, from its code (an error's message may name the URL); the message is added only for an
 * unknown failure and only when `withMessage` (the URL is not a secret).
 */
export function describeNetworkError(e: unknown, withMessage: boolean): string {
  const code = errorCode(e);
  const known = code === undefined ? undefined : NETWORK_ERRORS[code];
  if (known !== undefined) return `${known} (${code})`;
  const what = code ?? (e instanceof Error ? e.name : typeof e);
  const message = withMessage && e instanceof Error && e.message !== "" ? `: ${e.message.slice(0, 300)}` : "";
  return `request failed (${what})${message}`;
}
