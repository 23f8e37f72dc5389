import { checkCel, templateExpressions } from "../manifests/cel.js";
import type { PathSegment } from "../manifests/json-path.js";
import type { ConnectorFinding } from "./sdk.js";

/**
 * Checks connectors share: CEL conditions, expressions and `{{ }}` templates compile and type-check at
 * validation time. Each returns the findings for one field (`path` is relative to `config`), none when fine.
 */

/** A CEL condition: compiles and yields a boolean (or a type known only at run time). */
export function checkCondition(expr: string, path: PathSegment[]): ConnectorFinding[] {
  const r = checkCel(expr);
  if (!r.ok) return [{ code: "VRS_CEL_INVALID", path, message: r.message }];
  if (r.type !== "bool" && r.type !== "dyn")
    return [{ code: "VRS_CEL_NOT_BOOL", path, message: `the condition yields ${r.type}, not bool` }];
  return [];
}

/** A CEL expression: compiles, and when `types` is given yields one of them (`list` also matches `list<int>`). */
export function checkExpression(expr: string, path: PathSegment[], types?: string[]): ConnectorFinding[] {
  const r = checkCel(expr);
  if (!r.ok) return [{ code: "VRS_CEL_INVALID", path, message: r.message }];
  if (types && !types.some((t) => r.type === t || r.type.startsWith(`${t}<`))) {
    return [
      { code: "VRS_CEL_INVALID", path, message: `the expression yields ${r.type}; expected ${types.join(" or ")}` },
    ];
  }
  return [];
}

/** A text with `{{ expression }}` placeholders: balanced braces, and every placeholder compiles. */
export function checkTemplate(text: string, path: PathSegment[]): ConnectorFinding[] {
  const t = templateExpressions(text);
  if ("error" in t) return [{ code: "VRS_TEMPLATE_INVALID", path, message: t.error }];
  const out: ConnectorFinding[] = [];
  for (const e of t.expressions) {
    const r = checkCel(e);
    if (!r.ok) out.push({ code: "VRS_TEMPLATE_INVALID", path, message: `{{ ${e} }}: ${r.message}` });
  }
  return out;
}
