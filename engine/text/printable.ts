/**
 * Text from outside (a message's headers, body, ids, error texts) made safe to print on a terminal: control
 * characters, terminal escape sequences and bidirectional overrides become visible escapes (`\x1b`, `\u202e`), so
 * a message cannot move the cursor, recolour the screen, hide text or fake other output lines.
 */

/** C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const UNSAFE_KEEP_LINES =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

function escape(c: string): string {
  const code = c.charCodeAt(0);
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  if (c === "\t") return "\\t";
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** One line of text: every control character escaped, newlines and tabs too. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** A block of text (a message body): newlines and tabs kept, every other control character escaped. */
export function printableBlock(text: string): string {
  return text.replace(UNSAFE_KEEP_LINES, escape);
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A copy of a value read from outside (a KV record, a model built from one) with every string in it, object keys
 * included, passed through `printable`: a text renderer can then print any field of it as it is.
 */
export function printableDeep<T>(value: T): T {
  if (typeof value === "string") return printable(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => printableDeep(v)) as T;
  if (value instanceof Map)
    return new Map([...value].map(([k, v]: [unknown, unknown]) => [printableDeep(k), printableDeep(v)])) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k), printableDeep(v)])) as T;
  }
  return value;
}
