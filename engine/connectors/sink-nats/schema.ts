/** The JSON Schema of the `config` of a `nats` sink. */
export const natsSinkSchema = {
  title: "NATS sink",
  type: "object",
  additionalProperties: false,
  properties: {
    subject: {
      type: "string",
      pattern: "^[^\\s.>*]+(\\.[^\\s.>*]+)*$",
      maxLength: 256,
      description: "Subject within the tenant's account.",
    },
    jetstream: {
      type: "boolean",
      default: false,
      description: "Publish to JetStream and wait for the acknowledgement.",
    },
    headers: { type: "object", maxProperties: 64, additionalProperties: { type: "string", maxLength: 1024 } },
  },
  required: ["subject"],
} as const;
