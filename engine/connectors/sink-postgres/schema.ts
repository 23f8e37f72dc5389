import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `postgres` sink. */
export const postgresSinkSchema = {
  title: "PostgreSQL sink",
  type: "object",
  additionalProperties: false,
  properties: {
    host: { type: "string", minLength: 1, maxLength: 253, description: "Host name or address." },
    port: { type: "integer", minimum: 1, maximum: 65535, default: 5432 },
    database: { type: "string", minLength: 1, maxLength: 63 },
    user: { type: "string", minLength: 1, maxLength: 63 },
    secretRef: { ...common.secretRef, description: "Secret holding the password." },
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
