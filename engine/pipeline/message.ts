/**
 * The message model of the data plane: what a source produces, steps transform and sinks receive.
 *
 * Messages are never mutated. A step returns a new message that shares every part it did not change (headers,
 * attributes, untouched subtrees of the body), so that the original stays intact for dead letters and traces
 * without a deep copy on the hot path.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Metadata of a message, visible to CEL as `attributes`. `id`, `source` and `receivedAt` are always there;
 * the others depend on the source (`subject` for NATS, `path` and `method` for HTTP, `tick` for a timer).
 */
export interface MessageAttributes {
  /** Equal to the message's `id`. */
  readonly id: string;
  /** The source type that produced the message: `http`, `nats`, `timer`, `file`, `postgres-cdc`. */
  readonly source: string;
  /** When the source received the message, RFC 3339 in UTC (`2026-01-31T12:00:00.000Z`). */
  readonly receivedAt: string;
  readonly subject?: string;
  readonly [key: string]: JsonValue | undefined;
}

export interface Message {
  /**
   * Unique per integration and stable across redeliveries: the idempotency key of every sink. Items of a
   * split get `<parent id>.<index>`.
   */
  readonly id: string;
  /** A JSON value when `contentType` is JSON (see isJsonContentType), otherwise text. */
  readonly body: JsonValue;
  /** A media type without parameters is enough (`application/json`, `text/plain`); parameters are kept. */
  readonly contentType: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly attributes: MessageAttributes;
}

export const JSON_CONTENT_TYPE = "application/json";
export const TEXT_CONTENT_TYPE = "text/plain";

/** `application/json`, `application/cloudevents+json; charset=utf-8`, `text/json`: bodies read as JSON. */
export function isJsonContentType(contentType: string): boolean {
  const semicolon = contentType.indexOf(";");
  const type = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return type === "application/json" || type === "text/json" || type.endsWith("+json");
}

/** The message with another body and content type; everything else shared. */
export function withBody(message: Message, body: JsonValue, contentType = message.contentType): Message {
  return { id: message.id, body, contentType, headers: message.headers, attributes: message.attributes };
}

/** Item `index` of a split: id `<parent id>.<index>` (0-based), in `attributes.id` too. */
export function splitItem(parent: Message, index: number, body: JsonValue, contentType: string): Message {
  const id = `${parent.id}.${index}`;
  return { id, body, contentType, headers: parent.headers, attributes: { ...parent.attributes, id } };
}
