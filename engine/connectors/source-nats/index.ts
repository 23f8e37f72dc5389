import type { ConnectorDefinition } from "../sdk.js";
import { natsSourceSchema } from "./schema.js";

/** Subscribes to a subject (or consumes a JetStream stream) in the tenant's own account. */
export const natsSource: ConnectorDefinition = {
  kind: "source",
  type: "nats",
  schema: natsSourceSchema,
};
