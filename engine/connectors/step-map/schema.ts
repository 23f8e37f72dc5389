import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `map` step. */
export const mapStepSchema = {
  title: "Mapping step",
  type: "object",
  additionalProperties: false,
  properties: {
    fields: {
      type: "object",
      minProperties: 1,
      maxProperties: 500,
      propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z_][A-Za-z0-9_-]*)*$", maxLength: 256 },
      additionalProperties: common.expression,
      description: "Target field (dotted path in the output body) to CEL expression over the input message.",
    },
    mode: {
      enum: ["replace", "merge"],
      default: "replace",
      description:
        "replace: the output body holds only the mapped fields. merge: mapped fields are set on the input body.",
    },
  },
  required: ["fields"],
} as const;
