/** The JSON Schema of the `config` of a `csv` step. */
export const csvStepSchema = {
  title: "CSV to JSON step",
  type: "object",
  additionalProperties: false,
  properties: {
    delimiter: { type: "string", minLength: 1, maxLength: 1, default: "," },
    header: { type: "boolean", default: true, description: "The first row names the columns." },
    columns: {
      type: "array",
      items: { type: "string", minLength: 1, maxLength: 128 },
      description: "Column names when there is no header row.",
    },
    emit: {
      enum: ["array", "rows"],
      default: "array",
      description: "array: one message with all rows. rows: one message per row.",
    },
  },
} as const;
