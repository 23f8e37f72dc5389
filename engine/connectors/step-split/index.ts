import { checkExpression } from "../checks.js";
import type { ConnectorDefinition } from "../sdk.js";
import { splitStepSchema } from "./schema.js";

/** Turns one message into many. */
export const splitStep: ConnectorDefinition = {
  kind: "step",
  type: "split",
  schema: splitStepSchema,
  // A dynamic type is accepted: `body.lines` is a list only at run time.
  check: (config) =>
    typeof config.items === "string" ? checkExpression(config.items, ["items"], ["list", "dyn"]) : [],
};
