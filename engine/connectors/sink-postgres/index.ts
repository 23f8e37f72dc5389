import { checkExpression } from "../checks.js";
import { listAt, objectAt, type ConnectorDefinition, type ConnectorFinding } from "../sdk.js";
import { postgresSinkSchema } from "./schema.js";

/** Inserts or upserts rows into a PostgreSQL table, in batches. */
export const postgresSink: ConnectorDefinition = {
  kind: "sink",
  type: "postgres",
  schema: postgresSinkSchema,
  check: (config) => {
    const out: ConnectorFinding[] = [];
    if (config.mode === "upsert" && listAt(config.key).length === 0) {
      out.push({
        code: "VRS_SCHEMA_REQUIRED",
        path: ["key"],
        message: "mode: upsert needs key (the conflict columns)",
      });
    }
    for (const [column, expr] of Object.entries(objectAt(config.columns) ?? {})) {
      if (typeof expr === "string") out.push(...checkExpression(expr, ["columns", column]));
    }
    return out;
  },
  expressionMaps: ["columns"],
};
