import { checkCondition } from "../checks.js";
import type { ConnectorDefinition } from "../sdk.js";
import { filterStepSchema } from "./schema.js";

/** Keeps only the messages for which a condition holds. */
export const filterStep: ConnectorDefinition = {
  kind: "step",
  type: "filter",
  schema: filterStepSchema,
  check: (config) => (typeof config.when === "string" ? checkCondition(config.when, ["when"]) : []),
};
