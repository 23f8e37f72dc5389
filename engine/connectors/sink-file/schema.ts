/** The JSON Schema of the `config` of a `file` sink. */
export const fileSinkSchema = {
  title: "File sink",
  type: "object",
  additionalProperties: false,
  properties: {
    directory: { type: "string", minLength: 1, maxLength: 1024 },
    filename: {
      type: "string",
      minLength: 1,
      maxLength: 512,
      default: "{{ attributes.id }}.json",
      description: "File name template with {{ expression }} placeholders (CEL).",
    },
    format: { enum: ["json", "raw"], default: "json" },
  },
  required: ["directory"],
} as const;
