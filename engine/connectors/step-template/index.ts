import { checkTemplate } from "../checks.js";
import type { ConnectorDefinition } from "../sdk.js";
import { templateStepSchema } from "./schema.js";

/** Renders text from the message. */
export const templateStep: ConnectorDefinition = {
  kind: "step",
  type: "template",
  schema: templateStepSchema,
  check: (config) => (typeof config.template === "string" ? checkTemplate(config.template, ["template"]) : []),
};
