import { isJsonContentType, type JsonValue, type Message } from "./message.js";
import { errorMessage } from "../errors/errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export type DecodedBody = { ok: true; body: JsonValue } | { ok: false; message: string };

/** A payload as a message body: parsed JSON for a JSON content type, UTF-8 text otherwise. */
export function decodeBody(bytes: Uint8Array, contentType: string): DecodedBody {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, message: "the body is not valid UTF-8" };
  }
  if (!isJsonContentType(contentType)) return { ok: true, body: text };
  try {
    return { ok: true, body: JSON.parse(text) as JsonValue };
  } catch (e) {
    return { ok: false, message: `the body is not valid JSON: ${errorMessage(e)}` };
  }
}

/** A message body as a payload: JSON text for a JSON content type, the text itself otherwise. */
export function encodeBody(message: Message): Uint8Array {
  const { body } = message;
  if (isJsonContentType(message.contentType)) return encoder.encode(JSON.stringify(body));
  return encoder.encode(typeof body === "string" ? body : JSON.stringify(body));
}
