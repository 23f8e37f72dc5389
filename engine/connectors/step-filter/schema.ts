import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `filter` step. */
export const filterStepSchema = {
  title: "Filter step",
  type: "object",
  additionalProperties: false,
  properties: {
    when: {
      ...common.condition,
      description: "Keep the message only when this holds; others are acknowledged and dropped.",
    },
  },
  required: ["when"],
} as const;
