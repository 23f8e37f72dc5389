import { defs } from "./common.js";

/** The connector types of each kind, in the order the schema lists them (the connector registry's order). */
export interface ConnectorTypes {
  source: readonly string[];
  step: readonly string[];
  sink: readonly string[];
}

type ConnectorKind = keyof ConnectorTypes;

/** Where the schema of a connector's `config` lives under schemas/ (and under which name validation knows it). */
export function connectorSchemaFile(kind: ConnectorKind, type: string): string {
  return `connectors/${kind}-${type}.schema.json`;
}

/**
 * The Integration manifest (schemas/integration.schema.json) for the given connector types. Each connector's
 * `config` is checked against its own schema, chosen by `type` with one if/then per type: a failed `then`
 * reports the config's own errors at their own paths, which a oneOf over all types could not.
 */
export function integrationSchema(types: ConnectorTypes) {
  return {
    title: "Integration",
    description:
      "A VRSky integration: a source, steps and sinks run by workers. File: integrations/<tenant>/<name>.yaml.",
    type: "object",
    required: ["apiVersion", "kind", "metadata", "spec"],
    additionalProperties: false,
    properties: {
      apiVersion: { const: "vrsky.io/v1" },
      kind: { const: "Integration" },
      metadata: {
        type: "object",
        required: ["name", "tenant"],
        additionalProperties: false,
        properties: {
          name: defs.name,
          tenant: { ...defs.name, description: "The tenant that owns the integration; must exist in tenants/." },
          labels: defs.labels,
          annotations: defs.labels,
        },
      },
      spec: {
        type: "object",
        required: ["source", "sinks"],
        additionalProperties: false,
        properties: {
          replicas: {
            type: "integer",
            minimum: 0,
            maximum: 100,
            default: 1,
            description: "How many workers run the integration at once.",
          },
          suspend: { type: "boolean", default: false, description: "Stop running the integration; keep its data." },
          source: {
            type: "object",
            required: ["type"],
            additionalProperties: false,
            properties: {
              type: { enum: [...types.source], description: "The kind of source." },
              config: { type: "object", default: {} },
            },
            allOf: configByType("source", types.source),
          },
          steps: {
            type: "array",
            maxItems: 64,
            default: [],
            items: {
              type: "object",
              required: ["type"],
              additionalProperties: false,
              properties: {
                name: defs.name,
                type: { enum: [...types.step] },
                when: { ...defs.condition, description: "Apply the step only when this condition holds." },
                config: { type: "object", default: {} },
              },
              allOf: configByType("step", types.step),
            },
          },
          sinks: {
            type: "array",
            minItems: 1,
            maxItems: 32,
            items: {
              type: "object",
              required: ["name", "type"],
              additionalProperties: false,
              properties: {
                name: defs.name,
                type: { enum: [...types.sink] },
                when: { ...defs.condition, description: "Route to this sink only when this condition holds." },
                config: { type: "object", default: {} },
              },
              allOf: configByType("sink", types.sink),
            },
          },
          retry: {
            type: "object",
            additionalProperties: false,
            default: {},
            properties: {
              maxAttempts: { type: "integer", minimum: 1, maximum: 100, default: 3 },
              initialBackoff: { ...defs.duration, default: "1s" },
              maxBackoff: { ...defs.duration, default: "30s" },
              multiplier: { type: "number", minimum: 1, maximum: 10, default: 2 },
            },
          },
          deadLetter: {
            type: "object",
            additionalProperties: false,
            default: {},
            properties: {
              enabled: { type: "boolean", default: true },
              retention: { ...defs.duration, default: "7d" },
            },
          },
        },
      },
    },
  };
}

function configByType(kind: ConnectorKind, types: readonly string[]) {
  return types.map((type) => ({
    if: { properties: { type: { const: type } }, required: ["type"] },
    then: { properties: { config: { $ref: connectorSchemaFile(kind, type) } } },
  }));
}
