import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `split` step. */
export const splitStepSchema = {
  title: "Split step",
  type: "object",
  additionalProperties: false,
  properties: {
    items: { ...common.expression, description: "CEL expression yielding a list; each element becomes a message." },
    maxItems: { type: "integer", minimum: 1, maximum: 100000, default: 10000 },
  },
  required: ["items"],
} as const;
