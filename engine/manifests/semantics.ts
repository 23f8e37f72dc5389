import { checkCondition } from "../connectors/checks.js";
import { connectors, type ConnectorRegistry } from "../connectors/registry.js";
import type { ConnectorFinding, ConnectorKind } from "../connectors/sdk.js";
import type { Code } from "../errors/codes.js";
import type { FileFinding } from "../errors/finding.js";
import { findCredentials } from "./credentials.js";
import { parseDuration } from "./durations.js";
import { formatPath, type PathSegment } from "./json-path.js";
import type { Kind } from "./schema.js";
import type { SourceDocument } from "./yaml-source.js";

/**
 * Rules a JSON Schema cannot say well: expressions compile, credentials are not inlined, fields agree with
 * each other. Each connector's own rules come from its definition in the registry. Written defensively: they
 * also run on documents that failed the schema, so that one pass reports every problem.
 */
export function checkSemantics(
  kind: Kind,
  doc: SourceDocument,
  registry: ConnectorRegistry = connectors,
): FileFinding[] {
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
  else checkIntegration(spec, report, registry);
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

function checkIntegration(spec: Obj, report: Report, registry: ConnectorRegistry): void {
  const check = (kind: ConnectorKind, c: unknown, at: PathSegment[]) => {
    const o = obj(c);
    if (o) checkConnector(kind, o, at, report, registry);
  };
  check("source", spec.source, ["spec", "source"]);
  list(spec.steps).forEach((s, i) => check("step", s, ["spec", "steps", i]));
  list(spec.sinks).forEach((s, i) => check("sink", s, ["spec", "sinks", i]));
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

function checkConnector(
  kind: ConnectorKind,
  c: Obj,
  at: PathSegment[],
  report: Report,
  registry: ConnectorRegistry,
): void {
  const found = (base: PathSegment[]) => (f: ConnectorFinding) =>
    report(f.code, [...base, ...f.path], f.message, f.atKey);
  if (typeof c.when === "string") checkCondition(c.when, ["when"]).forEach(found(at));
  const config = obj(c.config);
  if (!config) return;
  const cfg = [...at, "config"];
  // An unknown type is the schema's finding; its config is still scanned for credentials.
  const connector = typeof c.type === "string" ? registry.get(kind, c.type) : undefined;
  for (const hit of findCredentials(config, cfg, { expressionMaps: [...(connector?.expressionMaps ?? [])] })) {
    if (hit.path[hit.path.length - 1] === "secretRef") continue;
    report(
      "VRS_SECRET_INLINE",
      hit.path,
      `looks like ${hit.what}; store it as a secret and reference it with secretRef`,
    );
  }
  connector?.check?.(config).forEach(found(cfg));
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
