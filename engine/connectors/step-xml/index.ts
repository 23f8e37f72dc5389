import type { ConnectorDefinition } from "../sdk.js";
import { xmlStepSchema } from "./schema.js";

/** Converts between XML and JSON. */
export const xmlStep: ConnectorDefinition = {
  kind: "step",
  type: "xml",
  schema: xmlStepSchema,
};
