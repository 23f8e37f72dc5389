import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `http` source. */
export const httpSourceSchema = {
  title: "HTTP webhook source",
  type: "object",
  additionalProperties: false,
  properties: {
    path: {
      type: "string",
      pattern: "^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$",
      maxLength: 512,
      description: "URL path the webhook listens on, under the tenant's prefix.",
    },
    methods: {
      type: "array",
      items: { enum: ["POST", "PUT", "PATCH"] },
      minItems: 1,
      uniqueItems: true,
      default: ["POST"],
    },
    maxBodyBytes: { ...common.size, default: 1048576 },
    signature: {
      type: "object",
      required: ["secretRef"],
      additionalProperties: false,
      description: "Reject requests whose HMAC signature does not match.",
      properties: {
        algorithm: { enum: ["hmac-sha256", "hmac-sha1"], default: "hmac-sha256" },
        header: { type: "string", default: "x-signature-256", pattern: "^[A-Za-z0-9-]+$" },
        prefix: { type: "string", default: "sha256=", maxLength: 32 },
        secretRef: common.secretRef,
      },
    },
    deliveryIdHeader: {
      type: "string",
      pattern: "^[A-Za-z0-9-]+$",
      maxLength: 128,
      description:
        "Request header whose value becomes the message id, so that a retried delivery is stored once (checked before Idempotency-Key and X-GitHub-Delivery).",
    },
    responseStatus: { type: "integer", minimum: 200, maximum: 299, default: 202 },
  },
  required: ["path"],
} as const;
