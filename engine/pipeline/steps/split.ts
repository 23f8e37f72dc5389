import { compileExpression, describe, toJson } from "../cel.js";
import { MessageFailure } from "../failure.js";
import { isJsonContentType, JSON_CONTENT_TYPE, splitItem } from "../message.js";
import type { StepCompiler } from "./step.js";

/**
 * `split`: each item of the list `items` yields becomes a message with id `<id>.<index>`, the same headers and
 * attributes (but its own `attributes.id`). Items keep the message's content type, except that non-string
 * items of a text message become JSON (`application/json`). More than `maxItems` items is a failure, not a cut.
 */
export const compileSplit: StepCompiler = (config) => {
  const items = compileExpression(String(config.items), ["config", "items"]);
  const maxItems = typeof config.maxItems === "number" ? config.maxItems : 10_000;
  return (message) => {
    const list = items(message);
    if (!Array.isArray(list)) {
      throw new MessageFailure("VRS_MSG_NOT_LIST", `config.items: yielded ${describe(list)}, not a list`);
    }
    if (list.length > maxItems) {
      throw new MessageFailure(
        "VRS_MSG_TOO_MANY_ITEMS",
        `config.items: yielded ${list.length} items; maxItems is ${maxItems}`,
      );
    }
    const json = isJsonContentType(message.contentType);
    return list.map((item: unknown, i) => {
      const body = toJson(item) ?? null;
      const contentType = json || typeof body === "string" ? message.contentType : JSON_CONTENT_TYPE;
      return splitItem(message, i, body, contentType);
    });
  };
};
