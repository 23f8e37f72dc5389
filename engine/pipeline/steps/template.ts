import { MessageFailure } from "../failure.js";
import { isJsonContentType, withBody, type JsonValue } from "../message.js";
import { compileTemplate } from "../template.js";
import type { StepCompiler } from "./step.js";
import { errorMessage } from "../../errors/errors.js";

/**
 * `template`: the rendered text becomes the body, with the step's content type. A JSON content type promises
 * JSON, so the text is parsed (and a message whose text is not JSON fails with VRS_MSG_NOT_JSON): later steps and
 * sinks then see a JSON body like any other.
 */
export const compileTemplateStep: StepCompiler = (config) => {
  const render = compileTemplate(String(config.template), ["config", "template"]);
  const contentType = typeof config.contentType === "string" ? config.contentType : "text/plain";
  if (!isJsonContentType(contentType)) return (message) => withBody(message, render(message), contentType);
  return (message) => {
    const text = render(message);
    let body: JsonValue;
    try {
      body = JSON.parse(text) as JsonValue;
    } catch (e) {
      throw new MessageFailure(
        "VRS_MSG_NOT_JSON",
        `config.template: the rendered text is not JSON, as ${contentType} requires: ${errorMessage(e)}`,
      );
    }
    return withBody(message, body, contentType);
  };
};
