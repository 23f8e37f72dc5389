/**
 * One webhook route of the gateway: what an integration's `http` source (engine/connectors/source-http/schema.ts)
 * says about the requests it accepts, read from its desired-state record with the schema's defaults filled in, and
 * the URL split into tenant and path. Pure: no I/O.
 */
import type { StateRecord } from "../contract/state.js";
import { parseSize } from "../manifests/durations.js";
import type { HttpSourceConfig } from "../model/generated.js";
import type { IntegrationResource } from "../model/resources.js";

/** Where webhooks arrive: `/t/<tenant>/<path>`. */
export const TENANT_PREFIX = "/t/";

export interface HttpSignature {
  /** Node's name of the hash: `sha256` or `sha1`. */
  hash: "sha256" | "sha1";
  /** Header name in lower case. */
  header: string;
  prefix: string;
  secretRef: string;
}

export interface HttpRoute {
  /** `<tenant>.<integration>`: the record's key in `vrsky-integrations`. */
  key: string;
  tenant: string;
  integration: string;
  path: string;
  methods: readonly string[];
  maxBodyBytes: number;
  signature?: HttpSignature;
  /** Header (lower case) whose value becomes the message id, before `idempotency-key` and `x-github-delivery`. */
  deliveryIdHeader?: string;
  responseStatus: number;
  /** The git commit the record was applied from (secrets are read at it). */
  revision: string;
  /** KV revision of the record: when two records claim one path for a moment, the newer one wins. */
  seq: number;
}

const DEFAULT_MAX_BODY = 1_048_576;

/** The route of an integration record with an `http` source; undefined for any other record. */
export function routeOf(record: StateRecord, seq: number): HttpRoute | undefined {
  if (record?.kind !== "Integration" || !record.resource) return undefined;
  const r = record.resource as IntegrationResource;
  if (r.spec?.source?.type !== "http") return undefined;
  const c = (r.spec.source.config ?? {}) as Partial<HttpSourceConfig>;
  if (typeof c.path !== "string" || !c.path.startsWith("/")) return undefined;
  const sig = c.signature;
  return {
    key: `${r.metadata.tenant}.${r.metadata.name}`,
    tenant: r.metadata.tenant,
    integration: r.metadata.name,
    path: c.path,
    methods: c.methods && c.methods.length > 0 ? [...c.methods] : ["POST"],
    maxBodyBytes: (c.maxBodyBytes === undefined ? undefined : parseSize(c.maxBodyBytes)) ?? DEFAULT_MAX_BODY,
    ...(sig
      ? {
          signature: {
            hash: sig.algorithm === "hmac-sha1" ? "sha1" : "sha256",
            header: (sig.header ?? "x-signature-256").toLowerCase(),
            prefix: sig.prefix ?? "sha256=",
            secretRef: sig.secretRef,
          },
        }
      : {}),
    ...(c.deliveryIdHeader ? { deliveryIdHeader: c.deliveryIdHeader.toLowerCase() } : {}),
    responseStatus: c.responseStatus ?? 202,
    revision: record.revision,
    seq,
  };
}

/**
 * The tenant and path of a request URL (`/t/acme/orders?x=1` → acme, `/orders`); undefined when the URL is not
 * under `/t/<tenant>/`. The path is compared as sent (not decoded), and the query string is not part of it.
 */
export function splitUrl(url: string): { tenant: string; path: string } | undefined {
  if (!url.startsWith(TENANT_PREFIX)) return undefined;
  const q = url.indexOf("?");
  const pathname = q < 0 ? url : url.slice(0, q);
  const slash = pathname.indexOf("/", TENANT_PREFIX.length);
  if (slash < 0) return undefined;
  const tenant = pathname.slice(TENANT_PREFIX.length, slash);
  if (tenant === "") return undefined;
  return { tenant, path: pathname.slice(slash) };
}
