import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `nats` source. */
export const natsSourceSchema = {
  title: "NATS subject source",
  type: "object",
  additionalProperties: false,
  properties: {
    subject: {
      type: "string",
      pattern: "^[^\\s.>*]+(\\.([^\\s.>*]+|\\*))*(\\.>)?$",
      maxLength: 256,
      description: "Subject within the tenant's account; wildcards * and > allowed.",
    },
    queue: common.name,
    stream: { ...common.name, description: "Consume from this JetStream stream instead of core NATS." },
  },
  required: ["subject"],
} as const;
