import type { ConnectorDefinition } from "../sdk.js";
import { natsSinkSchema } from "./schema.js";

/** Publishes each message to a subject (or JetStream) in the tenant's own account. */
export const natsSink: ConnectorDefinition = {
  kind: "sink",
  type: "nats",
  schema: natsSinkSchema,
};
