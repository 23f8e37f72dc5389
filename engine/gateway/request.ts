/**
 * What the gateway reads from a webhook request before storing it: the headers worth keeping (never credentials or
 * hop-by-hop headers), the delivery id, whether the content type and body can be carried, and the body itself,
 * read up to the route's limit and never further.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { decodeBody } from "../pipeline/codec.js";
import type { HttpRoute } from "./route.js";

/** Content type stored for a request that sends none. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
/** Longest delivery id taken from a request header. */
export const MAX_DELIVERY_ID = 256;

/**
 * Request headers never stored with a message: credentials (whatever the sender thought it was authenticating
 * with), hop-by-hop headers, and those describing the connection to the gateway rather than the sender's message
 * (`host`, `content-length`: the size is in `Vrsky-Size`). The signature header is dropped too (see storedHeaders).
 */
export const DROPPED_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-api-key",
  "api-key",
  "x-auth-token",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "content-length",
]);

/** The request's headers as a message stores them: names in lower case, without DROPPED_HEADERS, the route's signature header and headers named in `Connection`. */
export function storedHeaders(
  headers: IncomingHttpHeaders,
  route: Pick<HttpRoute, "signature">,
): Record<string, string> {
  const hopByHop = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ""),
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (value === undefined || DROPPED_HEADERS.has(n) || hopByHop.has(n) || n === route.signature?.header) continue;
    out[n] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

export type DeliveryId = { id: string } | { error: string } | undefined;

/**
 * The sender's delivery id: the route's `deliveryIdHeader`, else `Idempotency-Key`, else `X-GitHub-Delivery`
 * (the first that is present and not blank). Undefined when none is: the gateway makes one.
 */
export function deliveryId(headers: IncomingHttpHeaders, route: Pick<HttpRoute, "deliveryIdHeader">): DeliveryId {
  for (const name of [route.deliveryIdHeader, "idempotency-key", "x-github-delivery"]) {
    if (name === undefined) continue;
    const raw = headers[name];
    const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
    if (!value) continue;
    if (value.length > MAX_DELIVERY_ID) return { error: `header ${name} is longer than ${MAX_DELIVERY_ID} characters` };
    if (/[\u0000-\u001f\u007f]/.test(value)) return { error: `header ${name} holds control characters` };
    return { id: value };
  }
  return undefined;
}

/** Top-level media types whose bodies are binary: the pipeline carries JSON and text only. */
const BINARY_TYPES = ["multipart/", "image/", "audio/", "video/", "font/", "model/"];

/** Why a request's content type or encoding cannot be carried (415), or undefined. */
export function contentProblem(
  contentType: string | undefined,
  contentEncoding: string | undefined,
): string | undefined {
  const enc = contentEncoding?.trim().toLowerCase();
  if (enc && enc !== "identity") return `content encoding '${enc}' is not supported: send the body uncompressed`;
  const type = mediaType(contentType ?? "");
  if (BINARY_TYPES.some((p) => type.startsWith(p)))
    return `content type '${type}' cannot be carried: webhooks must send JSON or text`;
  return undefined;
}

/** Why the body cannot be read as its content type says (400), or undefined: JSON must parse, text must be UTF-8. */
export function bodyProblem(body: Uint8Array, contentType: string): string | undefined {
  const d = decodeBody(body, contentType);
  return d.ok ? undefined : d.message;
}

function mediaType(contentType: string): string {
  const semicolon = contentType.indexOf(";");
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** A body larger than the route allows (413). */
export class BodyTooLarge extends Error {
  readonly statusCode = 413;
  constructor(readonly limit: number) {
    super(`the body is larger than ${limit} bytes`);
    this.name = "BodyTooLarge";
  }
}

/** The request went away while its body was read. */
export class BodyAborted extends Error {
  readonly statusCode = 400;
  constructor() {
    super("the request was aborted while its body was read");
    this.name = "BodyAborted";
  }
}

/**
 * Reads a body of at most `limit` bytes. Past the limit it stops reading at once and rejects with BodyTooLarge,
 * having kept no more than `limit` bytes (the chunk that crossed it is dropped).
 */
export function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("aborted", onAborted);
      stream.off("close", onClose);
    };
    const fail = (e: Error) => {
      cleanup();
      chunks.length = 0;
      reject(e);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.pause();
        fail(new BodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = () => fail(new BodyAborted());
    const onAborted = () => fail(new BodyAborted());
    const onClose = () => {
      if (!stream.readableEnded) fail(new BodyAborted());
    };
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.on("aborted", onAborted);
    stream.on("close", onClose);
  });
}
