import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `file` source. */
export const fileSourceSchema = {
  title: "File directory source",
  type: "object",
  additionalProperties: false,
  properties: {
    directory: { type: "string", minLength: 1, maxLength: 1024, description: "Directory to read files from." },
    pattern: { type: "string", default: "*", maxLength: 256, description: "Glob of file names to pick up." },
    pollInterval: { ...common.duration, default: "5s" },
    format: { enum: ["json", "text", "binary", "csv", "xml"], default: "text" },
    afterRead: { enum: ["delete", "move", "keep"], default: "move" },
    moveTo: {
      type: "string",
      minLength: 1,
      maxLength: 1024,
      description: "Directory to move processed files to (afterRead: move).",
    },
  },
  required: ["directory"],
} as const;
