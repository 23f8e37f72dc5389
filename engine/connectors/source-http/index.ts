import type { ConnectorDefinition } from "../sdk.js";
import { httpSourceSchema } from "./schema.js";

/** Receives HTTP requests (webhooks) on a path under the tenant's prefix. */
export const httpSource: ConnectorDefinition = {
  kind: "source",
  type: "http",
  schema: httpSourceSchema,
  // One listener per tenant serves every webhook path, so two sources of a tenant cannot share one.
  uniqueWithinTenant: (config) => [
    {
      what: "webhook path",
      value: String(config.path),
      path: ["path"],
      hint: "each HTTP source of a tenant needs its own path",
    },
  ],
};
