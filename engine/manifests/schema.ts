import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { connectors, type ConnectorRegistry } from "../connectors/registry.js";
import type { Code } from "../errors/codes.js";
import type { FileFinding } from "../errors/finding.js";
import { formatDuration, parseDuration, parseSize } from "./durations.js";
import { formatPath, fromPointer, type PathSegment } from "./json-path.js";
import { KIND_SCHEMA_FILE } from "./schema-bundle.js";
import { SCHEMA_BASE_URI, schemaDocuments } from "./schema-documents.js";
import type { SourceDocument } from "./yaml-source.js";

export const API_VERSION = "vrsky.io/v1";
export const KINDS = ["Tenant", "Integration"] as const;
export type Kind = (typeof KINDS)[number];

const SCHEMA_FILE: Record<Kind, string> = KIND_SCHEMA_FILE;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020, formats: string[]) => void;

export interface SchemaSet {
  /** Validates a document of a kind; fills in defaults in place. */
  validate(kind: Kind, doc: SourceDocument): FileFinding[];
}

const compiled = new WeakMap<ConnectorRegistry, SchemaSet>();

/** Compiles the manifest schemas with the registry's connectors, once per process (and registry). */
export function loadSchemas(registry: ConnectorRegistry = connectors): SchemaSet {
  let set = compiled.get(registry);
  if (!set) {
    set = compileSchemas(registry);
    compiled.set(registry, set);
  }
  return set;
}

function compileSchemas(registry: ConnectorRegistry): SchemaSet {
  const ajv = new Ajv2020({
    allErrors: true,
    useDefaults: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    verbose: true,
    allowMatchingProperties: true,
  });
  addFormats(ajv, ["uri"]);
  ajv.addFormat("vrsky-duration", { type: "string", validate: (s: string) => parseDuration(s) !== undefined });
  ajv.addFormat("vrsky-size", { type: "string", validate: (s: string) => parseSize(s) !== undefined });
  // Durations and sizes are parsed once, here: the desired state holds canonical durations and byte counts,
  // so `1000ms` and `1s`, or `1MiB` and 1048576, are the same value to the plan.
  ajv.addKeyword({
    keyword: "x-vrsky-normalize",
    schemaType: "string",
    modifying: true,
    validate: (
      kind: string,
      data: unknown,
      _schema: unknown,
      cxt?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
    ) => {
      if (!cxt || (typeof data !== "string" && typeof data !== "number")) return true;
      if (kind === "duration" && typeof data === "string") {
        const ms = parseDuration(data);
        if (ms !== undefined) cxt.parentData[cxt.parentDataProperty] = formatDuration(ms);
      } else if (kind === "size") {
        const bytes = parseSize(data);
        if (bytes !== undefined) cxt.parentData[cxt.parentDataProperty] = bytes;
      }
      return true;
    },
  });
  // Each document's $id mirrors its path under schemas/, which resolves the relative $refs between them the
  // same way an editor resolves them between the files.
  for (const schema of schemaDocuments(registry).values()) ajv.addSchema(schema);
  const validators = new Map<Kind, ValidateFunction>();
  for (const kind of KINDS) validators.set(kind, ajv.getSchema(`${SCHEMA_BASE_URI}${SCHEMA_FILE[kind]}`)!);
  return {
    validate(kind, doc) {
      const fn = validators.get(kind)!;
      if (fn(doc.value)) return [];
      return toFindings(fn.errors ?? [], doc);
    },
  };
}

/** ajv errors as findings located in the document (also used for fixture files, engine/pipeline/fixtures). */
export function toFindings(errors: ErrorObject[], doc: SourceDocument): FileFinding[] {
  const out: FileFinding[] = [];
  const seen = new Set<string>();
  // A failed `then` branch repeats as an `if` error; a failed anyOf lists each branch: keep what explains it.
  for (const e of errors) {
    if (e.keyword === "if") continue;
    // A bad key fails the key's own keyword (e.g. pattern) under propertyNames too; the propertyNames error names the key.
    if (e.schemaPath.includes("/propertyNames/")) continue;
    // Durations and sizes carry a pattern for other validators beside their format: the format's error says more.
    if (e.keyword === "pattern" && errors.some((o) => isFormatTwin(o, e))) continue;
    if (
      errors.some(
        (o) => o !== e && o.keyword === "anyOf" && e.schemaPath.startsWith(o.schemaPath.replace(/\/anyOf$/, "/anyOf/")),
      )
    )
      continue;
    const f = toFinding(e, doc);
    const key = `${f.path}\u0000${f.code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}

function toFinding(e: ErrorObject, doc: SourceDocument): FileFinding {
  const base = fromPointer(e.instancePath);
  const p = e.params as Record<string, unknown>;
  let path: PathSegment[] = base;
  let preferKey = false;
  let code: Code;
  let message: string;
  const where = formatPath(base) || "the document";
  switch (e.keyword) {
    case "required":
      code = "VRS_SCHEMA_REQUIRED";
      message = `${where}: required field '${String(p.missingProperty)}' is missing`;
      path = [...base, String(p.missingProperty)];
      break;
    case "additionalProperties":
      code = "VRS_SCHEMA_UNKNOWN_FIELD";
      path = [...base, String(p.additionalProperty)];
      preferKey = true;
      message = `${formatPath(path)}: unknown field`;
      break;
    case "type":
      code = "VRS_SCHEMA_TYPE";
      message = `${where}: must be ${article(String(p.type).replace(",", " or "))}`;
      break;
    case "enum":
      code = "VRS_SCHEMA_ENUM";
      message = `${where}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
      break;
    case "const":
      code =
        base[0] === "apiVersion"
          ? "VRS_MANIFEST_API_VERSION"
          : base[0] === "kind"
            ? "VRS_MANIFEST_KIND"
            : "VRS_SCHEMA_ENUM";
      message = `${where}: must be ${JSON.stringify(p.allowedValue)}`;
      break;
    case "pattern":
      if (e.schemaPath.includes("/$defs/name/") || e.schemaPath.includes("/$defs/secretRef/")) {
        code = "VRS_NAME_INVALID";
        message = `${where}: '${String(valueAt(doc.value, base))}' is not a valid name`;
      } else {
        code = "VRS_SCHEMA_PATTERN";
        message = `${where}: '${truncate(String(valueAt(doc.value, base)))}' does not match ${String(p.pattern)}`;
      }
      break;
    case "propertyNames": {
      code = "VRS_SCHEMA_PATTERN";
      path = [...base, String(p.propertyName)];
      preferKey = true;
      message = `${formatPath(path)}: '${String(p.propertyName)}' is not an allowed key here`;
      break;
    }
    case "format":
      if (p.format === "vrsky-duration") {
        code = "VRS_DURATION_INVALID";
        message = `${where}: '${truncate(String(valueAt(doc.value, base)))}' is not a duration (units d, h, m, s, ms, each at most once, largest first; at most 366d)`;
      } else if (p.format === "vrsky-size") {
        code = "VRS_SIZE_INVALID";
        message = `${where}: '${truncate(String(valueAt(doc.value, base)))}' is not a size`;
      } else {
        code = "VRS_SCHEMA_PATTERN";
        message = `${where}: must be a valid ${String(p.format)}`;
      }
      break;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      code = "VRS_SCHEMA_RANGE";
      message = `${where}: must be ${String(p.comparison)} ${String(p.limit)}`;
      break;
    case "minLength":
    case "maxLength":
      code = "VRS_SCHEMA_LENGTH";
      message = `${where}: must have ${e.keyword === "minLength" ? "at least" : "at most"} ${String(p.limit)} characters`;
      break;
    case "minItems":
    case "maxItems":
      code = "VRS_SCHEMA_LENGTH";
      message = `${where}: must have ${e.keyword === "minItems" ? "at least" : "at most"} ${String(p.limit)} items`;
      break;
    case "minProperties":
    case "maxProperties":
      code = "VRS_SCHEMA_LENGTH";
      message = `${where}: must have ${e.keyword === "minProperties" ? "at least" : "at most"} ${String(p.limit)} entries`;
      break;
    case "uniqueItems":
      code = "VRS_SCHEMA_INVALID";
      message = `${where}: items ${String(p.j)} and ${String(p.i)} are the same; list each value once`;
      break;
    case "anyOf":
      code = "VRS_SCHEMA_REQUIRED";
      message = `${where}: ${anyOfMessage(e)}`;
      break;
    default:
      code = "VRS_SCHEMA_INVALID";
      message = `${where}: ${e.message ?? "does not match the schema"}`;
  }
  const { line, column } = doc.locate(path, preferKey);
  return { line, column, path: formatPath(path), code, message };
}

/** A format error of the same value and schema as a pattern error. */
function isFormatTwin(format: ErrorObject, pattern: ErrorObject): boolean {
  return (
    format.keyword === "format" &&
    format.instancePath === pattern.instancePath &&
    format.schemaPath.replace(/format$/, "") === pattern.schemaPath.replace(/pattern$/, "")
  );
}

function anyOfMessage(e: ErrorObject): string {
  const schemas = (e as ErrorObject & { schema?: unknown }).schema;
  if (Array.isArray(schemas) && schemas.every((s) => Array.isArray((s as { required?: unknown }).required))) {
    return `set at least one of ${schemas.map((s) => (s as { required: string[] }).required.join(" and ")).join(", ")}`;
  }
  return "matches none of the allowed forms";
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const seg of path) v = (v as Record<string | number, unknown> | undefined)?.[seg];
  return v;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
