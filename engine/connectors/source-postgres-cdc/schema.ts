import { postgresConnectionProperties } from "../postgres-connection.js";

/** The JSON Schema of the `config` of a `postgres-cdc` source. */
export const postgresCdcSourceSchema = {
  title: "PostgreSQL change data capture source",
  type: "object",
  additionalProperties: false,
  properties: {
    ...postgresConnectionProperties,
    slot: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", description: "Logical replication slot name." },
    publication: {
      type: "string",
      pattern: "^[A-Za-z_][A-Za-z0-9_]{0,62}$",
      description: "Publication to stream changes of.",
    },
    tables: {
      type: "array",
      items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$" },
      uniqueItems: true,
    },
    operations: {
      type: "array",
      items: { enum: ["insert", "update", "delete"] },
      uniqueItems: true,
      default: ["insert", "update", "delete"],
    },
    sslmode: { enum: ["disable", "prefer", "require", "verify-full"], default: "prefer" },
  },
  required: ["host", "database", "user", "slot", "publication"],
} as const;
