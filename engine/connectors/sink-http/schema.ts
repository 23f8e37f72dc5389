import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `http` sink. */
export const httpSinkSchema = {
  title: "HTTP sink",
  type: "object",
  additionalProperties: false,
  properties: {
    url: {
      type: "string",
      format: "uri",
      pattern: "^https?://",
      maxLength: 2048,
      description: "Target URL; no credentials in it.",
    },
    method: { enum: ["POST", "PUT", "PATCH", "DELETE", "GET"], default: "POST" },
    headers: {
      type: "object",
      maxProperties: 64,
      propertyNames: { pattern: "^[A-Za-z0-9-]+$" },
      additionalProperties: { type: "string", maxLength: 1024 },
      description: "Extra headers; credentials go through secretRef.",
    },
    secretRef: {
      ...common.secretRef,
      description:
        "Secret whose value is sent as the Authorization header, or the whole URL for webhook URLs that embed a token.",
    },
    timeout: { ...common.duration, default: "10s" },
    successStatus: {
      type: "array",
      items: { type: "integer", minimum: 100, maximum: 599 },
      default: [200, 201, 202, 204],
    },
  },
  anyOf: [{ required: ["url"] }, { required: ["secretRef"] }],
} as const;
