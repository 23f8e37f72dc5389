/** The JSON Schema of the `config` of a `template` step. */
export const templateStepSchema = {
  title: "Template step",
  type: "object",
  additionalProperties: false,
  properties: {
    template: {
      type: "string",
      minLength: 1,
      maxLength: 65536,
      description: "Text with {{ expression }} placeholders (CEL).",
    },
    contentType: { type: "string", default: "text/plain", maxLength: 128 },
  },
  required: ["template"],
} as const;
