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
    responseStatus: { type: "integer", minimum: 200, maximum: 299, default: 202 },
  },
  required: ["path"],
} as const;
