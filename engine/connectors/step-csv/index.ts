import { listAt, type ConnectorDefinition } from "../sdk.js";
import { csvStepSchema } from "./schema.js";

/** Converts CSV text to JSON. */
export const csvStep: ConnectorDefinition = {
  kind: "step",
  type: "csv",
  schema: csvStepSchema,
  check: (config) =>
    config.header === false && listAt(config.columns).length === 0
      ? [
          {
            code: "VRS_SCHEMA_REQUIRED",
            path: ["columns"],
            message: "without a header row, columns must name the columns",
          },
        ]
      : [],
};
