/** The JSON Schema of the `config` of a `xml` step. */
export const xmlStepSchema = {
  title: "XML conversion step",
  type: "object",
  additionalProperties: false,
  properties: {
    direction: { enum: ["xml-to-json", "json-to-xml"] },
    rootElement: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_.-]*$", default: "root" },
    attributePrefix: { type: "string", maxLength: 8, default: "@" },
    arrays: {
      type: "array",
      items: { type: "string", maxLength: 256 },
      description: "Element paths that are always lists.",
    },
  },
  required: ["direction"],
} as const;
