import { checkTemplate } from "../checks.js";
import type { ConnectorDefinition } from "../sdk.js";
import { fileSinkSchema } from "./schema.js";

/** Writes each message to a file in a directory. */
export const fileSink: ConnectorDefinition = {
  kind: "sink",
  type: "file",
  schema: fileSinkSchema,
  check: (config) => (typeof config.filename === "string" ? checkTemplate(config.filename, ["filename"]) : []),
};
