import type { Code } from "../errors/codes.js";
import type { FileFinding } from "../errors/finding.js";
import { checkCel, templateExpressions } from "./cel.js";
import { findCredentials } from "./credentials.js";
import { parseDuration } from "./durations.js";
import { formatPath, type PathSegment } from "./json-path.js";
import type { Kind } from "./schema.js";
import type { SourceDocument } from "./yaml-source.js";

/**
 * Rules a JSON Schema cannot say well: expressions compile, credentials are not inlined, fields agree with
 * each other. Written defensively: they also run on documents that failed the schema, so that one pass
 * reports every problem.
 */
export function checkSemantics(kind: Kind, doc: SourceDocument): FileFinding[] {
  const out: FileFinding[] = [];
  const report = (code: Code, path: PathSegment[], message: string, preferKey = false) => {
    const { line, column } = doc.locate(path, preferKey);
    out.push({ line, column, path: formatPath(path), code, message: `${formatPath(path)}: ${message}` });
  };
  const meta = obj(obj(doc.value)?.metadata);
  for (const field of ["labels", "annotations"] as const) {
    for (const hit of findCredentials(meta?.[field], ["metadata", field], { valuesOnly: true })) {
      report("VRS_SECRET_INLINE", hit.path, `looks like ${hit.what}; metadata is public, remove it`);
    }
  }
  const spec = obj(obj(doc.value)?.spec);
  if (!spec) return out;
  if (kind === "Tenant") checkTenant(spec, report);
  else checkIntegration(spec, report);
  return out;
}

type Report = (code: Code, path: PathSegment[], message: string, preferKey?: boolean) => void;
type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function checkTenant(spec: Obj, report: Report): void {
  const instances = obj(spec.instances);
  if (instances && spec.tier !== "dedicated") {
    report(
      "VRS_FIELD_CONFLICT",
      ["spec", "instances"],
      "instances apply to the dedicated tier only; set spec.tier: dedicated or remove spec.instances",
      true,
    );
  }
  if (
    instances &&
    typeof instances.min === "number" &&
    typeof instances.max === "number" &&
    instances.min > instances.max
  ) {
    report(
      "VRS_SCHEMA_RANGE",
      ["spec", "instances", "min"],
      `min (${instances.min}) is greater than max (${instances.max})`,
    );
  }
  if (obj(spec.placement) && spec.tier !== "dedicated") {
    report(
      "VRS_FIELD_CONFLICT",
      ["spec", "placement"],
      "placement applies to the dedicated tier only; set spec.tier: dedicated or remove spec.placement",
      true,
    );
  }
  uniqueNames(list(spec.apiKeys), ["spec", "apiKeys"], "name", report);
  uniqueNames(list(spec.apiKeys), ["spec", "apiKeys"], "sha256", report);
}

function checkIntegration(spec: Obj, report: Report): void {
  const source = obj(spec.source);
  if (source) checkConnector("source", source, ["spec", "source"], report);
  list(spec.steps).forEach((s, i) => {
    const step = obj(s);
    if (step) checkConnector("step", step, ["spec", "steps", i], report);
  });
  list(spec.sinks).forEach((s, i) => {
    const sink = obj(s);
    if (sink) checkConnector("sink", sink, ["spec", "sinks", i], report);
  });
  uniqueNames(list(spec.steps), ["spec", "steps"], "name", report);
  uniqueNames(list(spec.sinks), ["spec", "sinks"], "name", report);
  const retry = obj(spec.retry);
  if (retry && typeof retry.initialBackoff === "string" && typeof retry.maxBackoff === "string") {
    const a = parseDuration(retry.initialBackoff);
    const b = parseDuration(retry.maxBackoff);
    if (a !== undefined && b !== undefined && a > b) {
      report(
        "VRS_FIELD_CONFLICT",
        ["spec", "retry", "initialBackoff"],
        `initialBackoff (${retry.initialBackoff}) is longer than maxBackoff (${retry.maxBackoff})`,
      );
    }
  }
}

function checkConnector(role: "source" | "step" | "sink", c: Obj, at: PathSegment[], report: Report): void {
  if (typeof c.when === "string") condition(c.when, [...at, "when"], report);
  const config = obj(c.config);
  if (!config) return;
  const cfg = [...at, "config"];
  for (const hit of findCredentials(config, cfg, { expressionMaps: ["fields", "columns"] })) {
    if (hit.path[hit.path.length - 1] === "secretRef") continue;
    report(
      "VRS_SECRET_INLINE",
      hit.path,
      `looks like ${hit.what}; store it as a secret and reference it with secretRef`,
    );
  }
  const type = `${role}:${String(c.type)}`;
  switch (type) {
    case "step:filter":
      if (typeof config.when === "string") condition(config.when, [...cfg, "when"], report);
      break;
    case "step:map":
      for (const [field, expr] of Object.entries(obj(config.fields) ?? {})) {
        if (typeof expr === "string") expression(expr, [...cfg, "fields", field], report);
      }
      break;
    case "step:split":
      if (typeof config.items === "string") expression(config.items, [...cfg, "items"], report, ["list", "dyn"]);
      break;
    case "step:template":
      if (typeof config.template === "string") template(config.template, [...cfg, "template"], report);
      break;
    case "step:csv":
      if (config.header === false && list(config.columns).length === 0) {
        report("VRS_SCHEMA_REQUIRED", [...cfg, "columns"], "without a header row, columns must name the columns");
      }
      break;
    case "source:timer":
      if (typeof config.interval === "string" && parseDuration(config.interval) === 0) {
        report("VRS_DURATION_INVALID", [...cfg, "interval"], "a timer interval must be longer than 0s");
      }
      break;
    case "source:file":
      if (config.afterRead === "move" && config.moveTo === undefined) {
        report(
          "VRS_SCHEMA_REQUIRED",
          [...cfg, "moveTo"],
          "afterRead: move needs moveTo (or set afterRead: keep or delete)",
        );
      }
      break;
    case "sink:file":
      if (typeof config.filename === "string") template(config.filename, [...cfg, "filename"], report);
      break;
    case "sink:postgres":
      if (config.mode === "upsert" && list(config.key).length === 0) {
        report("VRS_SCHEMA_REQUIRED", [...cfg, "key"], "mode: upsert needs key (the conflict columns)");
      }
      for (const [col, expr] of Object.entries(obj(config.columns) ?? {})) {
        if (typeof expr === "string") expression(expr, [...cfg, "columns", col], report);
      }
      break;
  }
}

function condition(expr: string, path: PathSegment[], report: Report): void {
  const r = checkCel(expr);
  if (!r.ok) report("VRS_CEL_INVALID", path, r.message);
  else if (r.type !== "bool" && r.type !== "dyn")
    report("VRS_CEL_NOT_BOOL", path, `the condition yields ${r.type}, not bool`);
}

function expression(expr: string, path: PathSegment[], report: Report, types?: string[]): void {
  const r = checkCel(expr);
  if (!r.ok) report("VRS_CEL_INVALID", path, r.message);
  else if (types && !types.some((t) => r.type === t || r.type.startsWith(`${t}<`))) {
    report("VRS_CEL_INVALID", path, `the expression yields ${r.type}; expected ${types.join(" or ")}`);
  }
}

function template(text: string, path: PathSegment[], report: Report): void {
  const t = templateExpressions(text);
  if ("error" in t) {
    report("VRS_TEMPLATE_INVALID", path, t.error);
    return;
  }
  for (const e of t.expressions) {
    const r = checkCel(e);
    if (!r.ok) report("VRS_TEMPLATE_INVALID", path, `{{ ${e} }}: ${r.message}`);
  }
}

function uniqueNames(items: unknown[], at: PathSegment[], field: string, report: Report): void {
  const seen = new Map<unknown, number>();
  items.forEach((item, i) => {
    const v = obj(item)?.[field];
    if (typeof v !== "string") return;
    const first = seen.get(v);
    if (first !== undefined) {
      report("VRS_REF_DUPLICATE_NAME", [...at, i, field], `'${v}' is already used by ${formatPath([...at, first])}`);
    } else {
      seen.set(v, i);
    }
  });
}
