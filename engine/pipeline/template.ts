import { compileExpression, toJson, type Program } from "./cel.js";
import { CompileError } from "./failure.js";
import type { PathSegment } from "../manifests/json-path.js";
import type { Message } from "./message.js";

/** A compiled `{{ expression }}` text: renders a message to a string. */
export type Template = (message: Message) => string;

const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;

/**
 * Compiles a text with `{{ expression }}` placeholders (the rules of docs/manifests.md: balanced braces, no
 * empty placeholder, each a CEL expression). A value renders as itself when it is a string, as JSON otherwise
 * (`42`, `true`, `null`, `{"a":1}`); an empty optional (`{{ body.?note }}`) renders as nothing.
 */
export function compileTemplate(text: string, path: PathSegment[]): Template {
  const parts: Array<string | Program> = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, m.index));
    const expression = m[1]!.trim();
    if (expression === "") throw new CompileError("VRS_TEMPLATE_INVALID", path, "empty {{ }} placeholder");
    parts.push(compileExpression(expression, path, "VRS_TEMPLATE_INVALID"));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  for (const p of parts) {
    if (typeof p === "string" && (p.includes("{{") || p.includes("}}")))
      throw new CompileError("VRS_TEMPLATE_INVALID", path, "unbalanced {{ }} in template");
  }
  const literal = parts.filter((p) => p !== "");
  if (literal.length === 1 && typeof literal[0] === "string") {
    const constant = literal[0];
    return () => constant;
  }
  return (message) => {
    let out = "";
    for (const p of literal) out += typeof p === "string" ? p : render(p(message));
    return out;
  };
}

function render(v: unknown): string {
  if (typeof v === "string") return v;
  const json = toJson(v);
  return json === undefined ? "" : JSON.stringify(json);
}
