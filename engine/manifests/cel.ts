import { Environment } from "@marcbachmann/cel-js";
import { errorMessage } from "../errors/errors.js";

/**
 * CEL over a message: `body` (any JSON), `headers` (string map), `attributes` (metadata such as id, subject,
 * receivedAt). Expressions are type-checked at validation time; nothing is ever evaluated as JavaScript.
 */
export const celEnvironment = new Environment({
  homogeneousAggregateLiterals: false,
  enableOptionalTypes: true,
  limits: { maxAstNodes: 2000, maxDepth: 32, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 },
})
  .registerVariable("body", "dyn")
  .registerVariable("headers", "map<string, string>")
  .registerVariable("attributes", "map<string, dyn>");

export type CelCheck = { ok: true; type: string } | { ok: false; message: string };

const cache = new Map<string, CelCheck>();

/** Compiles and type-checks an expression; results are cached (the same condition recurs across files). */
export function checkCel(expression: string): CelCheck {
  const hit = cache.get(expression);
  if (hit) return hit;
  let result: CelCheck;
  try {
    const r = celEnvironment.check(expression) as { valid: boolean; type?: string; error?: Error };
    result = r.valid ? { ok: true, type: String(r.type ?? "dyn") } : { ok: false, message: celMessage(r.error) };
  } catch (e) {
    result = { ok: false, message: celMessage(e) };
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(expression, result);
  return result;
}

function celMessage(e: unknown): string {
  const text = errorMessage(e);
  return text.split("\n")[0]!.trim();
}

const PLACEHOLDER = /\{\{([\s\S]*?)\}\}/g;

/** The CEL expressions of a `{{ expr }}` template, or a message when the braces do not balance. */
export function templateExpressions(template: string): { expressions: string[] } | { error: string } {
  const expressions = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!.trim());
  const stripped = template.replace(PLACEHOLDER, "");
  if (stripped.includes("{{") || stripped.includes("}}")) return { error: "unbalanced {{ }} in template" };
  if (expressions.some((e) => e === "")) return { error: "empty {{ }} placeholder" };
  return { expressions };
}
