import { compileExpression, setOwn, toJson, type Program } from "../cel.js";
import { formatPath } from "../../manifests/json-path.js";
import { MessageFailure } from "../failure.js";
import { withBody, type JsonValue, type Message } from "../message.js";
import type { StepCompiler } from "./step.js";

interface Field {
  target: string;
  /** The target split at its dots: `customer.email` → ["customer", "email"]. */
  path: readonly string[];
  program: Program;
}

/**
 * `map`: every field's expression is evaluated over the input message, then set at its dotted target path in
 * a new body (`replace`) or in the input body (`merge`). The input is never mutated: in merge mode, only the
 * objects on the way to a target are copied.
 */
export const compileMap: StepCompiler = (config) => {
  const fields = Object.entries(config.fields as Record<string, string>).map(([target, source]): Field => ({
    target,
    path: target.split("."),
    program: compileExpression(source, ["config", "fields", target]),
  }));
  const merge = config.mode === "merge";
  // Without dotted targets no object but the new body is written into: no bookkeeping needed.
  const flat = fields.every((f) => f.path.length === 1);
  return (message) => {
    const values = new Array<JsonValue | undefined>(fields.length);
    for (let i = 0; i < fields.length; i++) values[i] = fieldJson(fields[i]!, fields[i]!.program(message));
    const body = merge ? { ...objectBody(message) } : {};
    // Objects made here may be written into; anything else (a value from the message) is copied first.
    const own = flat ? undefined : new Set<object>([body]);
    for (let i = 0; i < fields.length; i++) {
      const value = values[i];
      if (value === undefined) continue;
      if (own) set(body, fields[i]!, value, own);
      else setOwn(body, fields[i]!.target, value);
    }
    return withBody(message, body);
  };
};

function fieldJson(field: Field, value: unknown): JsonValue | undefined {
  try {
    return toJson(value);
  } catch (e) {
    if (!(e instanceof MessageFailure)) throw e;
    throw new MessageFailure(e.code, `${formatPath(["config", "fields", field.target])}: ${e.message}`);
  }
}

function objectBody(message: Message): Record<string, JsonValue> {
  const body = message.body;
  if (isObject(body)) return body;
  throw new MessageFailure(
    "VRS_MSG_TARGET_INVALID",
    `merge mode sets fields on the body, but the body is ${kindOf(body)}, not an object`,
  );
}

function set(body: Record<string, JsonValue>, field: Field, value: JsonValue, own: Set<object>): void {
  let target = body;
  const { path } = field;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = Object.hasOwn(target, key) ? target[key] : undefined;
    let child: Record<string, JsonValue>;
    if (next === undefined) {
      child = {};
    } else if (isObject(next)) {
      child = own.has(next) ? next : copy(next);
    } else {
      throw new MessageFailure(
        "VRS_MSG_TARGET_INVALID",
        `cannot set '${field.target}': '${path.slice(0, i + 1).join(".")}' holds ${kindOf(next)}, not an object`,
      );
    }
    if (child !== next) {
      own.add(child);
      setOwn(target, key, child);
    }
    target = child;
  }
  setOwn(target, path[path.length - 1]!, value);
}

function isObject(v: JsonValue | undefined): v is Record<string, JsonValue> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A shallow copy; spreading defines own properties, `__proto__` included. */
function copy(v: Record<string, JsonValue>): Record<string, JsonValue> {
  return { ...v };
}

function kindOf(v: JsonValue): string {
  return v === null ? "null" : Array.isArray(v) ? "a list" : `a ${typeof v}`;
}
