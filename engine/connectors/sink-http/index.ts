import type { ConnectorDefinition } from "../sdk.js";
import { httpSinkSchema } from "./schema.js";

/** Sends each message in an HTTP request. */
export const httpSink: ConnectorDefinition = {
  kind: "sink",
  type: "http",
  schema: httpSinkSchema,
};
