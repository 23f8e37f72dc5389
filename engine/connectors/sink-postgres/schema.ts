import { postgresConnectionProperties } from "../postgres-connection.js";
import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `postgres` sink. */
export const postgresSinkSchema = {
  title: "PostgreSQL sink",
  type: "object",
  additionalProperties: false,
  properties: {
    ...postgresConnectionProperties,
    table: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$" },
    mode: { enum: ["insert", "upsert"], default: "insert" },
    key: {
      type: "array",
      items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" },
      minItems: 1,
      uniqueItems: true,
      description: "Conflict columns for upsert.",
    },
    columns: {
      type: "object",
      additionalProperties: common.expression,
      propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$" },
      description: "Column to CEL expression; default: the body's fields of the same name.",
    },
    batchSize: { type: "integer", minimum: 1, maximum: 10000, default: 100 },
    sslmode: { enum: ["disable", "prefer", "require", "verify-full"], default: "prefer" },
  },
  required: ["host", "database", "user", "table"],
} as const;
