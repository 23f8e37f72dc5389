/**
 * Reading a record from KV against its contract: the value is parsed, its format and every field of
 * RECORD_FIELDS checked (record-checks.ts says how), and the result is either the record or the reason it is not
 * one. A bucket is writable by hand, by an older or a newer engine, and by anything holding the platform account:
 * no reader may trust a value because it sits under a key. Reasons name fields, never values.
 */
import { RECORD_FIELDS, type AsRead, type RecordFormat } from "./records.js";

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A KV value: its bytes (`entry.value`) or its text. */
export type RawValue = Uint8Array | string;

/** A check of one value: undefined when it holds, else what is wrong with it. */
export type Check = (v: unknown) => string | undefined;

/** A bad record as readers report it: where it is and why it was refused. */
export interface RecordRejection {
  bucket: string;
  key: string;
  reason: string;
}

export const str: Check = (v) => (typeof v === "string" ? undefined : "not a string");
export const num: Check = (v) => (typeof v === "number" && Number.isFinite(v) ? undefined : "not a finite number");
export const count: Check = (v) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? undefined : "not a whole number ≥ 0";
export const bool: Check = (v) => (typeof v === "boolean" ? undefined : "not true or false");

export function nullable(c: Check): Check {
  return (v) => (v === null ? undefined : c(v));
}

export function oneOf(...values: readonly string[]): Check {
  return (v) => (typeof v === "string" && values.includes(v) ? undefined : `not one of ${values.join(", ")}`);
}

export function arrayOf(item: Check): Check {
  return (v) => {
    if (!Array.isArray(v)) return "not an array";
    for (let i = 0; i < v.length; i++) {
      const why = item(v[i]);
      if (why !== undefined) return `[${i}]: ${why}`;
    }
    return undefined;
  };
}

/** A JSON object whose every value passes `value` (labels, counters by name). */
export function recordOf(value: Check): Check {
  return (v) => {
    if (!isObject(v)) return "not an object";
    for (const x of Object.values(v)) {
      const why = value(x);
      if (why !== undefined) return `a value is ${why}`;
    }
    return undefined;
  };
}

/** A JSON object with these fields; those in `optional` may be absent. Other fields are allowed (a newer writer). */
export function shape(fields: Record<string, Check>, optional: readonly string[] = []): Check {
  return (v) => {
    if (!isObject(v)) return "not an object";
    return checkFields(v, fields, (f) => !optional.includes(f));
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkFields(
  v: Record<string, unknown>,
  fields: Record<string, Check>,
  required: (field: string) => boolean,
): string | undefined {
  for (const [field, check] of Object.entries(fields)) {
    const x = v[field];
    if (x === undefined) {
      if (required(field)) return `field "${field}" is missing`;
      continue;
    }
    const why = check(x);
    if (why !== undefined) return `field "${field}": ${why}`;
  }
  return undefined;
}

/** The checks of one format: one per field of its record (but `format`), and what must hold across fields and key. */
export interface FormatChecks<F extends RecordFormat> {
  fields: { readonly [K in Exclude<keyof (typeof RECORD_FIELDS)[F], "format">]: Check };
  /** Cross-field and key checks, once every field passed. */
  also?: (v: Record<string, unknown>, key: string | undefined) => string | undefined;
  /** Records written before records carried a format have none: they are read as this format (AsRead). */
  formatOptional?: boolean;
}

const utf8 = new TextDecoder();

/** Parses a KV value as JSON; the reason when it is not JSON at all. */
export function parseJson(raw: RawValue): Decoded<unknown> {
  const text = typeof raw === "string" ? raw : utf8.decode(raw);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: text.length === 0 ? "empty value" : "not JSON" };
  }
}

/**
 * Decodes a value as a record of `format`, the checks of `checks`; `key` (where it was read) lets the checks
 * hold the record's own names to its key. Never throws.
 */
export function decodeWith<T extends { format: string }>(
  format: RecordFormat,
  checks: FormatChecks<RecordFormat>,
  raw: RawValue,
  key?: string,
): Decoded<T> {
  const parsed = parseJson(raw);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (!isObject(v)) return { ok: false, reason: "not a JSON object" };
  if (v.format !== format && !(v.format === undefined && checks.formatOptional))
    return {
      ok: false,
      reason: typeof v.format === "string" ? `format is not ${format}` : `field "format" is missing or not a string`,
    };
  const fields = RECORD_FIELDS[format] as Record<string, "required" | "optional">;
  const why =
    checkFields(v, checks.fields as Record<string, Check>, (f) => fields[f] === "required") ?? checks.also?.(v, key);
  if (why !== undefined) return { ok: false, reason: why };
  return { ok: true, value: (v.format === undefined ? { ...v, format } : v) as AsRead<T> as T };
}
