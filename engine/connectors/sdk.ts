import type { Code } from "../errors/codes.js";
import type { PathSegment } from "../manifests/json-path.js";

/**
 * The connector SDK: what a connector declares so that the engine can validate its `config`, derive types
 * and editor schemas from it, and (later) run it. docs/connectors.md explains how to write one.
 */

/** Where a connector sits in an integration: `spec.source`, `spec.steps[]` or `spec.sinks[]`. */
export type ConnectorKind = "source" | "step" | "sink";
export const CONNECTOR_KINDS: readonly ConnectorKind[] = ["source", "step", "sink"];

/** A JSON Schema (draft 2020-12) as plain data; connectors write theirs `as const`. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * A connector's `config` as its checks see it: plain YAML data that may not match the schema (the checks also
 * run on configs that failed it, so that one pass reports every problem). Read fields defensively.
 */
export type Config = Readonly<Record<string, unknown>>;

/** A problem a connector's check found in its config. */
export interface ConnectorFinding {
  code: Code;
  /** Path of the field, relative to `config` (`["fields", "id"]`). */
  path: PathSegment[];
  /** What is wrong and what to do; the finding's full path (`spec.steps[0].config.fields.id: `) is put in front. */
  message: string;
  /** Point the finding at the field's key rather than its value (for a field that must go). */
  atKey?: boolean;
}

/**
 * A value a connector holds exclusively within its tenant, such as the URL path of a webhook: two resources
 * of one tenant holding the same `what` and `value` are `VRS_REF_DUPLICATE_NAME`, reported at the second.
 */
export interface TenantUniqueValue {
  /** What the value is, in words; values are compared per tenant and per `what` (`webhook path`). */
  what: string;
  value: string;
  /** Path of the field, relative to `config`. */
  path: PathSegment[];
  /** How to resolve a clash (`each HTTP source of a tenant needs its own path`). */
  hint: string;
}

/**
 * Makes a running instance of the connector in a worker. The data-plane issues define its context and
 * result; no connector has one yet, and nothing calls it.
 */
export type RuntimeFactory = (config: Config) => unknown;

export interface ConnectorDefinition {
  kind: ConnectorKind;
  /** The `type` written in manifests: lowercase letters, digits and `-`, unique within its kind. */
  type: string;
  /** The JSON Schema of `config`: an object schema with a `title`; defaults are filled in from it. */
  schema: JsonSchema;
  /** Rules the schema cannot say (expressions compile, fields agree), over a config that may be invalid. */
  check?: (config: Config) => ConnectorFinding[];
  /** Values that must be unique among the tenant's resources; asked of valid configs only. */
  uniqueWithinTenant?: (config: Config) => TenantUniqueValue[];
  /**
   * Keys (at any depth of `config`) of maps whose keys are data, such as output field names: the credential
   * scan judges the values in them but not their key names, so `fields: { token: body.token }` is allowed.
   */
  expressionMaps?: readonly string[];
  runtime?: RuntimeFactory;
}

const COMMON = "../common.schema.json#/$defs/";

/**
 * The shared definitions of schemas/common.schema.json, as a connector schema refers to them. Use these for
 * every duration, size, name, secret reference and CEL expression, so that all connectors parse, normalise
 * and report them alike. Spread one to add a default or description: `{ ...common.duration, default: "5s" }`.
 */
export const common = {
  name: { $ref: `${COMMON}name` },
  duration: { $ref: `${COMMON}duration` },
  size: { $ref: `${COMMON}size` },
  condition: { $ref: `${COMMON}condition` },
  expression: { $ref: `${COMMON}expression` },
  secretRef: { $ref: `${COMMON}secretRef` },
} as const;

/** A plain object, or undefined: configs are read defensively. */
export function objectAt(v: unknown): Config | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Config) : undefined;
}

/** A list, or empty. */
export function listAt(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
