/**
 * JSON Schemas of the API's responses and queries: fastify serializes every response with them (a field not in the
 * schema is never sent) and @fastify/swagger publishes them in the OpenAPI document (`/openapi.json`).
 */
const str = { type: "string" } as const;
const int = { type: "integer", minimum: 0 } as const;
const bool = { type: "boolean" } as const;
const nullableStr = { type: ["string", "null"] } as const;

function obj(properties: Record<string, unknown>, optional: string[] = []): Record<string, unknown> {
  return {
    type: "object",
    additionalProperties: false,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    properties,
  };
}

function nullable(schema: Record<string, unknown>): Record<string, unknown> {
  return { ...schema, type: [schema.type as string, "null"] };
}

const resourceCondition = obj({ type: str, status: str, reason: str });

const finding = obj({ file: str, line: int, column: int, path: str, code: str, message: str });

export const syncSchema = obj({
  ready: bool,
  sync: nullable(
    obj({
      reconciler: str,
      branch: str,
      observedRevision: str,
      lastAppliedRevision: nullableStr,
      conditions: {
        type: "array",
        items: obj({ type: str, status: str, reason: str, message: str, lastTransitionTime: str }),
      },
      lastRun: obj({
        trigger: str,
        revision: str,
        startedAt: str,
        finishedAt: str,
        durationMs: { type: "number", minimum: 0 },
        outcome: str,
        counts: obj({ create: int, update: int, delete: int, unchanged: int, conflicts: int, failed: int }),
        errors: { type: "array", items: finding },
        errorCount: int,
        message: str,
      }),
      runs: int,
      driftCorrections: int,
      notReady: { type: "array", items: obj({ kind: str, key: str, reason: str, message: str }) },
      updatedAt: str,
    }),
  ),
  leader: nullable(obj({ holder: str, epoch: int, expiresAt: str })),
  counts: obj({ tenants: int, integrations: int }),
  replication: nullable(
    obj({
      cluster: nullableStr,
      servers: { type: ["integer", "null"], minimum: 1 },
      replicas: int,
      buckets: { type: "array", items: obj({ bucket: str, replicas: int }) },
    }),
  ),
});

export const tenantSchema = obj({
  name: str,
  suspended: bool,
  lastAppliedRevision: str,
  hash: str,
  conditions: { type: "array", items: resourceCondition },
  integrations: int,
});

const replicaSchema = obj({ replica: int, worker: nullableStr, epoch: int, state: str, reason: str }, ["reason"]);

const dataPlaneSchema = nullable(
  obj({
    revision: str,
    conditions: { type: "array", items: obj({ type: str, status: str, reason: str, message: str, since: str }) },
    updatedAt: str,
  }),
);

const flowSchema = nullable(
  obj(
    {
      replicas: int,
      counters: obj({ received: int, filtered: int, delivered: int, retried: int, dead: int }),
      inFlight: int,
      pending: int,
      deadLetterDepth: int,
      slotLagBytes: int,
      updatedAt: str,
    },
    ["slotLagBytes"],
  ),
);

export const integrationSchema = obj({
  tenant: str,
  name: str,
  key: str,
  suspended: bool,
  lastAppliedRevision: str,
  hash: str,
  conditions: { type: "array", items: resourceCondition },
  dataPlane: dataPlaneSchema,
  flow: flowSchema,
  replicas: { type: "array", items: replicaSchema },
});

export const workerSchema = obj({
  id: str,
  state: str,
  capacity: int,
  assigned: int,
  running: int,
  labels: { type: "object", additionalProperties: str },
  heartbeatAt: str,
});

export const assignmentSchema = obj(
  {
    key: str,
    tenant: str,
    integration: str,
    replica: int,
    worker: nullableStr,
    epoch: int,
    state: str,
    reason: str,
    since: str,
  },
  ["reason", "since"],
);

const counts = obj({ create: int, update: int, delete: int, unchanged: int });

export const planSchema = obj({
  branch: str,
  revision: str,
  valid: bool,
  summary: counts,
  changes: {
    type: "array",
    items: obj({
      action: { type: "string", enum: ["create", "update", "delete"] },
      kind: str,
      key: str,
      tenant: str,
      name: str,
      reason: str,
      fields: { type: "array", items: str },
    }),
  },
  deletionGuard: obj({
    blocked: bool,
    allowedByTrailer: bool,
    over: {
      type: "array",
      items: obj({
        what: { type: "string", enum: ["tenants", "integrations"] },
        deletes: int,
        live: int,
        allowed: int,
        share: { type: "number", minimum: 0, maximum: 1 },
      }),
    },
  }),
  errors: { type: "array", items: finding },
  errorCount: int,
});

const change = obj({
  kind: { type: "string", enum: ["sync", "placement", "tenant", "integration", "worker", "assignment"] },
  key: str,
  tenant: nullableStr,
});

export const recentEventSchema = obj({ id: int, at: str, changes: { type: "array", items: change } });

/** A page of a list: the items and the cursor of the next page (null on the last). */
export function pageSchema(item: Record<string, unknown>): Record<string, unknown> {
  return obj({ items: { type: "array", items: item }, next: nullableStr });
}

export const errorSchema = obj({ error: str });

export const pageQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    limit: { type: "integer", minimum: 1, maximum: 1000, description: "items per page (default 100)" },
    cursor: { type: "string", maxLength: 1400, description: "`next` of the page before" },
  },
} as const;

export const integrationsQuery = {
  ...pageQuery,
  properties: { ...pageQuery.properties, tenant: { type: "string", maxLength: 253, description: "one tenant only" } },
} as const;

/** Any string: a name that cannot exist is answered 404 like every other missing one, not 400. */
const name = { type: "string", maxLength: 253 } as const;

export const tenantParams = obj({ tenant: name });
export const integrationParams = obj({ tenant: name, name });

/** The error answers every resource route may give, for the OpenAPI document. */
export const errorResponses = {
  400: { description: "A bad query: a cursor that is not one, a limit out of 1–1000", ...errorSchema },
  401: { description: "No key, an unknown key, or a header that is not `Authorization: Bearer <key>`", ...errorSchema },
  404: { description: "Not there, or another tenant's (the same body)", ...errorSchema },
  429: {
    description:
      "The key's rate limit is used up (see Retry-After); on the event stream: the key's streams are all open",
    ...errorSchema,
  },
  503: { description: "The state cannot be read now (see Retry-After)", ...errorSchema },
};

/** The same error answers, for a route whose 200 is not JSON (the event stream). */
export const jsonErrorResponses = Object.fromEntries(
  Object.entries(errorResponses).map(([status, { description, ...schema }]) => [
    status,
    { description, content: { "application/json": { schema } } },
  ]),
);
