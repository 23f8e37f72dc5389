import type { ConnectorDefinition } from "../sdk.js";
import { postgresCdcSourceSchema } from "./schema.js";

/** Streams row changes of PostgreSQL tables through logical replication. */
export const postgresCdcSource: ConnectorDefinition = {
  kind: "source",
  type: "postgres-cdc",
  schema: postgresCdcSourceSchema,
};
