import { common } from "./sdk.js";

/**
 * How a PostgreSQL connector reaches its server: the first properties of both the `postgres-cdc` source and the
 * `postgres` sink, written once so that the two cannot drift apart (the password is a secretRef, never a field).
 */
export const postgresConnectionProperties = {
  host: { type: "string", minLength: 1, maxLength: 253, description: "Host name or address." },
  port: { type: "integer", minimum: 1, maximum: 65535, default: 5432 },
  database: { type: "string", minLength: 1, maxLength: 63 },
  user: { type: "string", minLength: 1, maxLength: 63 },
  secretRef: { ...common.secretRef, description: "Secret holding the password." },
} as const;
