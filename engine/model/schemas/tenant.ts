import { defs } from "./common.js";

/** The Tenant manifest (schemas/tenant.schema.json). */
export const tenantSchema = {
  title: "Tenant",
  description: "A VRSky tenant: one NATS account, its limits, and where it runs. File: tenants/<name>.yaml.",
  type: "object",
  required: ["apiVersion", "kind", "metadata"],
  additionalProperties: false,
  properties: {
    apiVersion: { const: "vrsky.io/v1" },
    kind: { const: "Tenant" },
    metadata: {
      type: "object",
      required: ["name"],
      additionalProperties: false,
      properties: { name: defs.name, labels: defs.labels, annotations: defs.labels },
    },
    spec: {
      type: "object",
      additionalProperties: false,
      properties: {
        tier: {
          enum: ["shared", "dedicated"],
          default: "shared",
          description:
            "shared: the tenant lives on the shared NATS servers. dedicated: it gets NATS instances of its own.",
        },
        suspend: {
          type: "boolean",
          default: false,
          description: "Stop running the tenant's integrations; keep all its data.",
        },
        limits: {
          type: "object",
          additionalProperties: false,
          default: {},
          properties: {
            integrations: {
              type: "integer",
              minimum: 0,
              maximum: 100000,
              default: 50,
              description: "Most integrations the tenant may have.",
            },
            replicas: {
              ...defs.limit,
              default: -1,
              description: "Most integration replicas in total; -1 for no limit.",
            },
            connections: { ...defs.limit, default: 200 },
            subscriptions: { ...defs.limit, default: 10000 },
            payloadBytes: { ...defs.size, default: 1048576, description: "Largest message, in bytes." },
            jetstream: {
              type: "object",
              additionalProperties: false,
              default: {},
              properties: {
                memoryBytes: { ...defs.size, default: 67108864 },
                storageBytes: { ...defs.size, default: 1073741824 },
                streams: { ...defs.limit, default: 200 },
                consumers: { ...defs.limit, default: 500 },
              },
            },
          },
        },
        instances: {
          type: "object",
          additionalProperties: false,
          description: "Dedicated tier only: bounds for the tenant's own NATS instances.",
          properties: {
            min: { type: "integer", minimum: 1, maximum: 100, default: 1 },
            max: { type: "integer", minimum: 1, maximum: 100, default: 3 },
            integrationsPerInstance: { type: "integer", minimum: 1, maximum: 10000, default: 50 },
          },
        },
        placement: {
          type: "object",
          additionalProperties: false,
          description: "Dedicated tier only: which workers run the tenant's integrations.",
          required: ["workerLabels"],
          properties: {
            workerLabels: {
              type: "object",
              description:
                "Run this tenant's integrations only on workers whose labels include every pair (dedicated tier only).",
              propertyNames: {
                pattern: "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
              },
              additionalProperties: { type: "string", pattern: "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$" },
              minProperties: 1,
              maxProperties: 64,
            },
          },
        },
        apiKeys: {
          type: "array",
          maxItems: 32,
          description: "Keys for the read-only status API: only the SHA-256 of each key, never the key.",
          items: {
            type: "object",
            required: ["name", "sha256"],
            additionalProperties: false,
            properties: {
              name: defs.name,
              sha256: { type: "string", pattern: "^[0-9a-f]{64}$", description: "Lowercase hex SHA-256 of the key." },
            },
          },
        },
        accountKeyGeneration: {
          type: "integer",
          minimum: 0,
          default: 0,
          description: "Raise to rotate the tenant's NATS account key.",
        },
      },
      default: {},
    },
  },
} as const;
