/**
 * The `http` sink at run time: one request per message, on a connection pool of the sink's own (an undici Agent
 * made by the factory, closed by `close()`). The body is the message's body as bytes with its content type, and
 * `Idempotency-Key` is the message id, so a receiver can drop the repeats that at-least-once delivery makes.
 *
 * Outcomes: a status in `successStatus` is ok; 5xx, 429 and 408 are VRS_SINK_UNAVAILABLE (retried, `Retry-After`
 * honoured); any other status is VRS_SINK_REJECTED (dead letter at once); a network failure is VRS_SINK_UNAVAILABLE;
 * no complete answer within `timeout` (connect, headers and body together) is VRS_SINK_TIMEOUT; an address the
 * policy refuses (address-policy.ts) is VRS_SINK_ADDRESS_BLOCKED. Error texts name the sink's host, or "the secret
 * URL" when the URL is a secret, and never hold a secret value.
 */
import { Agent, request, type Dispatcher } from "undici";
import { VrskyError } from "../../../errors/errors.js";
import { parseDuration } from "../../../manifests/durations.js";
import { encodeBody } from "../../../pipeline/codec.js";
import type { FlowEnv, SinkDelivery, SinkFactory, SinkOutcome, SinkRuntime } from "../types.js";
import { AddressBlockedError, guardedConnector } from "./guarded-connect.js";
import { bodyExcerpt, describeNetworkError, errorCode, statusOutcome, TIMEOUT_CODES } from "./http-outcome.js";

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Bytes of a rejection's body read for its excerpt; the rest is read and dropped (up to DRAIN_LIMIT). */
const EXCERPT_BYTES = 4096;
/** A response body longer than this is not read to its end: the connection is closed instead of reused. */
const DRAIN_LIMIT = 128 * 1024;
/** How long close() lets requests in flight finish before it cuts their connections. */
const CLOSE_GRACE_MS = 1_000;

interface HttpSinkConfig {
  url?: string;
  method: string;
  headers: Record<string, string>;
  secretRef?: string;
  timeoutMs: number;
  successStatus: number[];
}

/** Where a sink sends, resolved from its config and secret; `secrets` are texts never to show. */
interface Target {
  url: URL;
  /** The receiver in error texts: the URL's host, or "the secret URL". */
  label: string;
  /** The URL is the secret: error texts name neither it nor its host. */
  secretUrl: boolean;
  authorization?: string;
  secrets: string[];
}

export const httpSink: SinkFactory = async (config, env) => {
  const c = readConfig(config);
  const target = await resolveTarget(c, env);
  const agent = new Agent({
    connect: guardedConnector({ allowPrivateNetworks: env.allowPrivateNetworks, connectTimeoutMs: c.timeoutMs }),
    headersTimeout: c.timeoutMs,
    bodyTimeout: c.timeoutMs,
  });
  return new HttpSinkRuntime(c, target, agent);
};

class HttpSinkRuntime implements SinkRuntime {
  private closed = false;
  private readonly headers: Record<string, string>;
  private readonly withBody: boolean;

  constructor(
    private readonly c: HttpSinkConfig,
    private readonly t: Target,
    private readonly agent: Agent,
  ) {
    this.withBody = c.method !== "GET";
    this.headers = {};
    for (const [k, v] of Object.entries(c.headers)) this.headers[k.toLowerCase()] = v;
    if (t.authorization !== undefined) this.headers.authorization = t.authorization;
  }

  async send(d: SinkDelivery): Promise<SinkOutcome> {
    if (this.closed) return this.fail("VRS_SINK_UNAVAILABLE", `${this.t.label}: the sink is closed`);
    if (d.signal.aborted) return this.stopped();
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        ctl.abort(new Error("timeout"));
      },
      Math.min(this.c.timeoutMs, MAX_TIMER_MS),
    );
    const onStop = () => ctl.abort(new Error("stopped"));
    d.signal.addEventListener("abort", onStop, { once: true });
    try {
      const res = await request(this.t.url, {
        dispatcher: this.agent,
        method: this.c.method as Dispatcher.HttpMethod,
        headers: this.requestHeaders(d),
        body: this.withBody ? encodeBody(d.message) : null,
        signal: ctl.signal,
      });
      const status = res.statusCode;
      const decided = this.c.successStatus.includes(status) || status >= 500 || status === 429 || status === 408;
      const excerpt = decided ? (await drain(res.body), "") : await readExcerpt(res.body);
      const retryAfter = res.headers["retry-after"];
      const o = statusOutcome(status, this.c.successStatus, this.t.label, {
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        excerpt,
      });
      return o.ok ? o : { ...o, error: this.redact(o.error) };
    } catch (e) {
      if (d.signal.aborted) return this.stopped();
      const code = errorCode(e);
      if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code)))
        return this.fail("VRS_SINK_TIMEOUT", `${this.t.label} did not answer within ${this.c.timeoutMs} ms`);
      const blocked = findBlocked(e);
      if (blocked) return this.fail("VRS_SINK_ADDRESS_BLOCKED", this.blockedText(blocked));
      return this.fail("VRS_SINK_UNAVAILABLE", `${this.t.label}: ${describeNetworkError(e, !this.t.secretUrl)}`);
    } finally {
      clearTimeout(timer);
      d.signal.removeEventListener("abort", onStop);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let grace: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => {
      grace = setTimeout(() => void this.agent.destroy().then(resolve, resolve), CLOSE_GRACE_MS);
    });
    await Promise.race([this.agent.close(), cut]).catch(() => undefined);
    clearTimeout(grace);
  }

  private requestHeaders(d: SinkDelivery): Record<string, string> {
    const h: Record<string, string> = this.withBody ? { "content-type": d.message.contentType } : {};
    Object.assign(h, this.headers);
    h["idempotency-key"] = d.idempotencyKey;
    return h;
  }

  private blockedText(e: AddressBlockedError): string {
    const classes = [...new Set(e.refused.map((r) => r.class))].join(", ");
    if (this.t.secretUrl) return `the secret URL's host is not allowed: it resolves only to ${classes} addresses`;
    const where = e.refused.map((r) => `${r.address} (${r.class})`).join(", ");
    return `${this.t.label} is not allowed: it resolves only to ${where || classes}`;
  }

  private stopped(): SinkOutcome {
    return this.fail("VRS_SINK_UNAVAILABLE", `${this.t.label}: delivery abandoned, the replica is stopping`);
  }

  private fail(code: "VRS_SINK_UNAVAILABLE" | "VRS_SINK_TIMEOUT" | "VRS_SINK_ADDRESS_BLOCKED", error: string) {
    return { ok: false as const, code, error: this.redact(error) };
  }

  /** Belt and braces: no secret text survives in an error, whatever produced it. */
  private redact(text: string): string {
    let out = text;
    // Longest first: a URL before its path and host.
    const texts = [...this.t.secrets].sort((a, b) => b.length - a.length);
    for (const s of texts) if (s.length >= 4) out = out.split(s).join("[secret]");
    return out;
  }
}

function findBlocked(e: unknown): AddressBlockedError | undefined {
  for (let cur = e, depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    if (cur instanceof AddressBlockedError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function readConfig(config: Record<string, unknown>): HttpSinkConfig {
  const timeout = typeof config.timeout === "string" ? parseDuration(config.timeout) : undefined;
  const headers =
    config.headers && typeof config.headers === "object" ? (config.headers as Record<string, string>) : {};
  const success = Array.isArray(config.successStatus) ? (config.successStatus as number[]) : [200, 201, 202, 204];
  return {
    ...(typeof config.url === "string" ? { url: config.url } : {}),
    method: typeof config.method === "string" ? config.method : "POST",
    headers,
    ...(typeof config.secretRef === "string" ? { secretRef: config.secretRef } : {}),
    timeoutMs: timeout !== undefined && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS,
    successStatus: success,
  };
}

/** The URL and Authorization of a sink: its `url`, and its secret as the header value or as the whole URL. */
async function resolveTarget(c: HttpSinkConfig, env: FlowEnv): Promise<Target> {
  if (c.secretRef === undefined) {
    if (c.url === undefined)
      throw new VrskyError("VRS_SINK_SECRET_INVALID", "the http sink has neither url nor secretRef");
    const url = new URL(c.url);
    return { url, label: url.host, secretUrl: false, secrets: [] };
  }
  const name = c.secretRef;
  const value = (await env.secret(name)).revealText().trim();
  const invalid = (why: string) => new VrskyError("VRS_SINK_SECRET_INVALID", `secret '${name}' ${why}`);
  if (/^https?:\/\//i.test(value)) {
    if (c.url !== undefined) throw invalid("is a URL, but the sink has a url too: keep one of them");
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalid("starts like a URL but is not a valid one");
    }
    if (url.username !== "" || url.password !== "") throw invalid("is a URL with a user name or password in it");
    return {
      url,
      label: "the secret URL",
      secretUrl: true,
      secrets: [value, url.href, `${url.pathname}${url.search}`, url.host, url.hostname],
    };
  }
  if (c.url === undefined) throw invalid("is not an http(s) URL, and the sink has no url to send it to");
  if (value === "" || !/^[\t\x20-\x7e\x80-\xff]+$/.test(value))
    throw invalid("cannot be sent as an Authorization header (empty, or a line break or control character in it)");
  const url = new URL(c.url);
  return { url, label: url.host, secretUrl: false, authorization: value, secrets: [value] };
}

/** Reads a response body to its end (up to DRAIN_LIMIT) so that the connection is reused; never throws. */
async function drain(body: Dispatcher.ResponseData["body"]): Promise<void> {
  await body.dump({ limit: DRAIN_LIMIT }).catch(() => undefined);
}

/** The excerpt of a rejection's body; the body is read to its end (up to DRAIN_LIMIT). Never throws. */
async function readExcerpt(body: Dispatcher.ResponseData["body"]): Promise<string> {
  const kept: Buffer[] = [];
  let size = 0;
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (size < EXCERPT_BYTES) {
        kept.push(chunk);
        size += chunk.length;
      }
      if (total > DRAIN_LIMIT) {
        body.destroy();
        break;
      }
    }
  } catch {
    // what arrived is enough for an excerpt
  }
  return bodyExcerpt(Buffer.concat(kept).subarray(0, EXCERPT_BYTES));
}
