import { connectors, type ConnectorRegistry } from "../connectors/registry.js";
import type { Config, ConnectorKind } from "../connectors/sdk.js";
import type { FileFinding } from "../errors/finding.js";
import type { IntegrationResource, Resource } from "../model/resources.js";
import { formatPath, type PathSegment } from "./json-path.js";
import type { InputLimits } from "./limits.js";
import { API_VERSION, KINDS, loadSchemas, type Kind } from "./schema.js";
import { checkSemantics } from "./semantics.js";
import { secretRefsOf, type LocatedSecretRef } from "./secret-refs.js";
import { readSource, type SourceDocument } from "./yaml-source.js";

type Position = { line: number; column: number };

/** A value a connector of the document holds exclusively within its tenant (see TenantUniqueValue). */
export interface UniqueValue {
  what: string;
  value: string;
  hint: string;
  /** The field's full path (`spec.source.config.path`) and where it is written. */
  path: string;
  at: Position;
}

/** What the cross-file rules need of a document, kept after its parse tree is dropped. */
export interface ParsedDocument {
  index: number;
  kind?: Kind;
  /** metadata.name / metadata.tenant when they are strings, even if the document is otherwise invalid. */
  name?: string;
  tenant?: string;
  /** Present only when the document has no findings of its own. */
  resource?: Resource;
  /** Of a valid document only. */
  unique: UniqueValue[];
  /** Every `secretRef` of a valid integration, located (for the sealed-secrets check). */
  secretRefs: LocatedSecretRef[];
  findings: FileFinding[];
  at: {
    document: Position;
    kind: Position;
    name: Position;
    tenant: Position;
    limitIntegrations: Position;
    limitReplicas: Position;
  };
}

export interface ParsedFile {
  documents: ParsedDocument[];
  /** Documents in the file, including unreadable ones: a file of one document must be named after it. */
  documentCount: number;
  /** Problems of the file as a whole (encoding, YAML syntax). */
  findings: FileFinding[];
}

/**
 * Parses and validates one file's bytes. The result depends on the bytes only (for one registry of
 * connectors), so it is cached by blob id.
 */
export function parseFile(
  bytes: Uint8Array,
  limits: InputLimits,
  registry: ConnectorRegistry = connectors,
): ParsedFile {
  const source = readSource(bytes, limits);
  return {
    findings: source.findings,
    documents: source.documents.map((doc) => parseDocument(doc, registry)),
    documentCount: source.documentCount,
  };
}

function parseDocument(doc: SourceDocument, registry: ConnectorRegistry): ParsedDocument {
  const v = doc.value as Record<string, unknown>;
  const meta = isObject(v) && isObject(v.metadata) ? (v.metadata as Record<string, unknown>) : {};
  const at = {
    document: doc.locate([]),
    kind: doc.locate(["kind"]),
    name: doc.locate(["metadata", "name"]),
    tenant: doc.locate(["metadata", "tenant"]),
    limitIntegrations: doc.locate(["spec", "limits", "integrations"]),
    limitReplicas: doc.locate(["spec", "limits", "replicas"]),
  };
  const out: ParsedDocument = {
    index: doc.index,
    name: typeof meta.name === "string" ? meta.name : undefined,
    tenant: typeof meta.tenant === "string" ? meta.tenant : undefined,
    unique: [],
    secretRefs: [],
    findings: [],
    at,
  };
  const report = (f: Omit<FileFinding, "line" | "column">, p: Position) => out.findings.push({ ...f, ...p });
  if (!isObject(v)) {
    report(
      {
        path: "",
        code: "VRS_YAML_NOT_MAPPING",
        message: "a manifest must be a mapping with apiVersion, kind, metadata and spec",
      },
      at.document,
    );
    return out;
  }
  if (v.apiVersion === undefined) {
    report(
      {
        path: "apiVersion",
        code: "VRS_SCHEMA_REQUIRED",
        message: `required field 'apiVersion' is missing; use apiVersion: ${API_VERSION}`,
      },
      at.document,
    );
  } else if (v.apiVersion !== API_VERSION) {
    report(
      {
        path: "apiVersion",
        code: "VRS_MANIFEST_API_VERSION",
        message: `apiVersion '${String(v.apiVersion)}' is not supported; use ${API_VERSION}`,
      },
      doc.locate(["apiVersion"]),
    );
  }
  if (!KINDS.includes(v.kind as Kind)) {
    const message =
      v.kind === undefined
        ? "required field 'kind' is missing; use Tenant or Integration"
        : `kind '${String(v.kind)}' is not known; use Tenant or Integration`;
    report(
      { path: "kind", code: v.kind === undefined ? "VRS_SCHEMA_REQUIRED" : "VRS_MANIFEST_KIND", message },
      v.kind === undefined ? at.document : at.kind,
    );
    return out;
  }
  const kind = v.kind as Kind;
  out.kind = kind;
  if (out.findings.length > 0) return out;
  if (kind === "Integration") fillConnectorConfigs(v);
  out.findings.push(...loadSchemas(registry).validate(kind, doc), ...checkSemantics(kind, doc, registry));
  if (out.findings.length > 0) return out;
  out.resource = v as unknown as Resource;
  if (out.resource.kind === "Integration") {
    out.unique = uniqueValues(out.resource, doc, registry);
    out.secretRefs = secretRefsOf(out.resource).map((u) => ({
      name: u.name,
      path: formatPath(u.path),
      ...doc.locate(u.path),
    }));
  }
  return out;
}

/** What the integration's connectors hold exclusively within the tenant, located while the parse tree is here. */
function uniqueValues(r: IntegrationResource, doc: SourceDocument, registry: ConnectorRegistry): UniqueValue[] {
  type At = [ConnectorKind, { type: string; config: object }, PathSegment[]];
  const connectorsAt: At[] = [
    ["source", r.spec.source, ["spec", "source"]],
    ...(r.spec.steps ?? []).map((s, i): At => ["step", s, ["spec", "steps", i]]),
    ...r.spec.sinks.map((s, i): At => ["sink", s, ["spec", "sinks", i]]),
  ];
  const out: UniqueValue[] = [];
  for (const [kind, { type, config }, at] of connectorsAt) {
    for (const u of registry.get(kind, type)?.uniqueWithinTenant?.(config as Config) ?? []) {
      const path = [...at, "config", ...u.path];
      out.push({ what: u.what, value: u.value, hint: u.hint, path: formatPath(path), at: doc.locate(path) });
    }
  }
  return out;
}

/**
 * `config` may be left out when a connector needs nothing; it is filled in as `{}` before validation, so the
 * connector's own schema (required fields, defaults) applies whether or not `config` was written.
 */
function fillConnectorConfigs(v: Record<string, unknown>): void {
  const spec = isObject(v.spec) ? v.spec : undefined;
  if (!spec) return;
  const items = [
    spec.source,
    ...(Array.isArray(spec.steps) ? spec.steps : []),
    ...(Array.isArray(spec.sinks) ? spec.sinks : []),
  ];
  for (const item of items) if (isObject(item) && !("config" in item)) item.config = {};
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
