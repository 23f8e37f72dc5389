import { checkExpression } from "../checks.js";
import { objectAt, type ConnectorDefinition } from "../sdk.js";
import { mapStepSchema } from "./schema.js";

/** Builds a new body from CEL expressions over the input message. */
export const mapStep: ConnectorDefinition = {
  kind: "step",
  type: "map",
  schema: mapStepSchema,
  check: (config) =>
    Object.entries(objectAt(config.fields) ?? {}).flatMap(([field, expr]) =>
      typeof expr === "string" ? checkExpression(expr, ["fields", field]) : [],
    ),
  expressionMaps: ["fields"],
};
