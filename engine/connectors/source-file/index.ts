import type { ConnectorDefinition } from "../sdk.js";
import { fileSourceSchema } from "./schema.js";

/** Picks up files from a directory. */
export const fileSource: ConnectorDefinition = {
  kind: "source",
  type: "file",
  schema: fileSourceSchema,
  check: (config) =>
    config.afterRead === "move" && config.moveTo === undefined
      ? [
          {
            code: "VRS_SCHEMA_REQUIRED",
            path: ["moveTo"],
            message: "afterRead: move needs moveTo (or set afterRead: keep or delete)",
          },
        ]
      : [],
};
