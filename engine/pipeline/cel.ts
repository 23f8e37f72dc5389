import { EvaluationError, Optional } from "@marcbachmann/cel-js";
import { celEnvironment } from "../manifests/cel.js";
import { formatPath, type PathSegment } from "../manifests/json-path.js";
import { CompileError, MessageFailure } from "./failure.js";
import type { JsonValue, Message } from "./message.js";
import { errorMessage } from "../errors/errors.js";

/**
 * CEL at run time: expressions are parsed and type-checked once (per revision), then evaluated per message
 * with the message itself as the activation (`body`, `headers`, `attributes` are its fields), so an
 * evaluation allocates nothing of its own. Nothing is ever evaluated as JavaScript.
 */
export type Program = (message: Message) => unknown;

export type Condition = (message: Message) => boolean;

/**
 * Parses and type-checks an expression at `path` (relative to its step or sink: `["config", "fields", "id"]`).
 * A CompileError (`code`, VRS_CEL_INVALID by default) when it does not compile. The program's failures are
 * MessageFailures whose message starts with the path, so that a dead letter says which expression failed.
 */
export function compileExpression(
  source: string,
  path: PathSegment[],
  code: "VRS_CEL_INVALID" | "VRS_TEMPLATE_INVALID" = "VRS_CEL_INVALID",
): Program {
  let parsed: ReturnType<typeof celEnvironment.parse>;
  try {
    parsed = celEnvironment.parse(source);
  } catch (e) {
    throw new CompileError(code, path, summary(e));
  }
  const check = parsed.check();
  if (!check.valid) throw new CompileError(code, path, summary(check.error));
  const where = formatPath(path);
  return (message) => {
    try {
      return parsed(message);
    } catch (e) {
      throw failure(e, where);
    }
  };
}

/** A condition: true or false, a MessageFailure (VRS_MSG_NOT_BOOL) for any other value. */
export function compileCondition(source: string, path: PathSegment[]): Condition {
  const program = compileExpression(source, path);
  const where = formatPath(path);
  return (message) => {
    const v = program(message);
    if (v === true || v === false) return v;
    throw new MessageFailure("VRS_MSG_NOT_BOOL", `${where}: the condition yielded ${describe(v)}, not true or false`);
  };
}

/** cel-js error codes of a key or list index that is not there. */
const MISSING = new Set(["no_such_key", "index_out_of_bounds", "index_out_of_range"]);

/**
 * What a step threw while processing a message, as a MessageFailure. A CEL evaluation error is
 * VRS_MSG_FIELD_MISSING (a key or index that is not there) or VRS_MSG_EVAL_FAILED; so is anything else (a
 * RangeError, a library error): it is one message's failure, never the process's.
 */
export function failure(e: unknown, where?: string): MessageFailure {
  if (e instanceof MessageFailure) return e;
  const code = e instanceof EvaluationError && MISSING.has(e.code) ? "VRS_MSG_FIELD_MISSING" : "VRS_MSG_EVAL_FAILED";
  return new MessageFailure(code, where ? `${where}: ${summary(e)}` : summary(e));
}

/** Sets an own property, also `__proto__` (JSON.parse makes it an own key; assignment would set the prototype). */
export function setOwn(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * A CEL value as JSON, as the protobuf JSON mapping writes it: int and uint as numbers (only within ±2^53 - 1),
 * bytes in base64, timestamps in RFC 3339, durations as `1.5s`. Parts that already are JSON (subtrees of the
 * body) are returned as they are, not copied. An empty optional is `undefined` (a map field then stays unset).
 */
export function toJson(v: unknown): JsonValue | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (Number.isFinite(v)) return v;
      throw new MessageFailure("VRS_MSG_NOT_JSON", `${String(v)} is not a JSON number`);
    case "bigint":
      if (v >= -MAX_SAFE && v <= MAX_SAFE) return Number(v);
      throw new MessageFailure("VRS_MSG_NOT_JSON", `the integer ${v} is beyond 2^53 - 1 and cannot be a JSON number`);
    case "object":
      return v === null ? null : objectToJson(v);
    default:
      throw new MessageFailure("VRS_MSG_NOT_JSON", `${describe(v)} is not JSON`);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function objectToJson(v: object): JsonValue | undefined {
  if (Array.isArray(v)) {
    let out: JsonValue[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const item = v[i] as unknown;
      const j = toJson(item) ?? null;
      if (j !== item && !out) out = v.slice(0, i) as JsonValue[];
      if (out) out.push(j);
    }
    return out ?? (v as JsonValue[]);
  }
  if (v instanceof Optional) return v.hasValue() ? toJson(v.value()) : undefined;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  if (v instanceof Map) {
    const out: Record<string, JsonValue> = {};
    for (const [k, item] of v) {
      const j = toJson(item);
      if (j !== undefined) setOwn(out, String(k), j);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype || proto === null) {
    const rec = v as Record<string, unknown>;
    let out: Record<string, JsonValue> | undefined;
    const keys = Object.keys(rec);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const item = rec[k];
      const j = toJson(item);
      if (j !== item && !out) {
        out = {};
        for (let p = 0; p < i; p++) setOwn(out, keys[p]!, rec[keys[p]!] as JsonValue);
      }
      if (out && j !== undefined) setOwn(out, k, j);
    }
    return out ?? (rec as Record<string, JsonValue>);
  }
  // cel-js does not export these two classes: recognised by name and shape.
  const name = v.constructor?.name;
  if (name === "Duration") return String(v);
  if (name === "UnsignedInt" && typeof (v as { value?: unknown }).value === "bigint")
    return toJson((v as { value: bigint }).value);
  throw new MessageFailure("VRS_MSG_NOT_JSON", `${describe(v)} is not JSON`);
}

/** A value named for a message: its CEL-ish type and, when short, the value. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return `the int ${v}`;
  if (typeof v === "string") return v.length <= 40 ? `the string ${JSON.stringify(v)}` : "a string";
  if (typeof v === "number") return `the number ${v}`;
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") {
    const name = (v as { constructor?: { name?: string } }).constructor?.name;
    return name && name !== "Object" ? `a ${name.toLowerCase()}` : "a map";
  }
  return `a ${typeof v}`;
}

function summary(e: unknown): string {
  if (e && typeof e === "object" && "summary" in e && typeof e.summary === "string") return e.summary;
  const text = errorMessage(e);
  return text.split("\n")[0]!.trim();
}
