import { createHash } from "node:crypto";
import type { TestRepo } from "../helpers/git-repo.js";

/**
 * Realistic manifests for the reconciler benchmark: tenants with limits, labels and API keys, and
 * integrations drawn from five shapes (webhook to Slack, CSV files to Postgres, NATS to HTTP, CDC to NATS,
 * timer to file), each a few hundred bytes of YAML as a user would write them.
 */

export const tenantName = (t: number) => `tenant-${String(t).padStart(4, "0")}`;
export const integrationName = (t: number, i: number) =>
  `${SHAPES[(t + i) % SHAPES.length]!.name}-${String(i).padStart(2, "0")}`;

export function tenantManifest(t: number, perTenant: number): string {
  const name = tenantName(t);
  const dedicated = t % 10 === 0;
  const key = createHash("sha256").update(`${name}-dashboard-key`).digest("hex");
  return [
    "# yaml-language-server: $schema=../schemas/tenant.schema.json",
    "apiVersion: vrsky.io/v1",
    "kind: Tenant",
    "metadata:",
    `  name: ${name}`,
    `  labels: { team: team-${t % 37}, region: ${["eu-west", "us-east", "ap-south"][t % 3]} }`,
    "spec:",
    `  tier: ${dedicated ? "dedicated" : "shared"}`,
    "  limits:",
    `    integrations: ${perTenant * 2}`,
    "    connections: 200",
    "    payloadBytes: 1MiB",
    "    jetstream: { memoryBytes: 64MiB, storageBytes: 1GiB, streams: 50, consumers: 500 }",
    ...(dedicated ? ["  instances: { min: 1, max: 3, integrationsPerInstance: 10 }"] : []),
    "  apiKeys:",
    `    - { name: dashboards, sha256: "${key}" }`,
    "",
  ].join("\n");
}

interface Shape {
  name: string;
  body: (tenant: string, name: string, n: number) => string;
}

const SHAPES: Shape[] = [
  {
    name: "orders-to-slack",
    body: (tenant, name, n) => `  replicas: ${1 + (n % 3)}
  source:
    type: http
    config:
      path: /${name}
      signature: { secretRef: shop-webhook-signing }
  steps:
    - name: shape
      type: map
      config:
        fields:
          id: body.order.id
          total: body.order.total
          text: '"New order " + string(body.order.id)'
    - name: big-only
      type: filter
      config: { when: "body.total > ${100 + (n % 50)}.0" }
  sinks:
    - name: slack
      type: http
      config: { secretRef: slack-webhook, timeout: 5s }
    - name: archive
      type: nats
      when: "headers['x-archive'] == 'yes'"
      config: { subject: ${tenant}.orders.archive, jetstream: true }
  retry: { maxAttempts: 3, initialBackoff: 1s, maxBackoff: 30s, multiplier: 2 }
  deadLetter: { retention: 7d }
`,
  },
  {
    name: "invoices-csv",
    body: (tenant, name) => `  source:
    type: file
    config: { directory: /var/lib/vrsky/inbox/${tenant}/${name}, pattern: "*.csv", afterRead: move, moveTo: /var/lib/vrsky/done/${tenant} }
  steps:
    - { type: csv, config: { header: true, emit: rows } }
  sinks:
    - name: ledger
      type: postgres
      config:
        host: db.internal
        database: ledger
        user: vrsky
        secretRef: ledger-db
        table: invoices
        mode: upsert
        key: [invoice_id]
`,
  },
  {
    name: "shipments",
    body: (tenant, name, n) => `  replicas: ${1 + (n % 2)}
  source:
    type: nats
    config: { subject: "${tenant}.${name}.>", queue: ${name} }
  steps:
    - { type: xml, config: { direction: xml-to-json, rootElement: shipment } }
  sinks:
    - name: tracking
      type: http
      config: { url: "https://tracking.example.com/api/${tenant}/shipments", method: POST, timeout: 10s }
`,
  },
  {
    name: "webhook-fanout",
    body: (tenant, name, n) => `  source:
    type: http
    config:
      path: /hooks/${name}
  steps:
    - name: only-paid
      type: filter
      config: { when: "body.status == 'paid' && body.amount >= ${n % 20}" }
  sinks:
    - name: events
      type: nats
      config: { subject: ${tenant}.events.${name} }
    - name: crm
      type: http
      config: { url: "https://crm.example.com/${tenant}/hooks", method: POST, timeout: 3s }
  retry: { maxAttempts: 5, initialBackoff: 500ms, maxBackoff: 1m, multiplier: 2 }
`,
  },
  {
    name: "nightly-export",
    body: (tenant, name) => `  source:
    type: nats
    config: { subject: "${tenant}.exports.${name}" }
  steps:
    - { type: csv, config: { header: true, emit: rows } }
  sinks:
    - name: warehouse
      type: nats
      config: { subject: ${tenant}.warehouse.${name}, jetstream: true }
  deadLetter: { retention: 3d }
`,
  },
];

/** An integration manifest; `label` adds a `bench-change` label (the benchmark's one-integration change). */
export function integrationManifest(t: number, i: number, label?: string): string {
  const tenant = tenantName(t);
  const name = integrationName(t, i);
  const shape = SHAPES[(t + i) % SHAPES.length]!;
  const labels = [`owner: team-${t % 37}`, ...(label !== undefined ? [`bench-change: "${label}"`] : [])];
  return (
    "# yaml-language-server: $schema=../../schemas/integration.schema.json\n" +
    `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${tenant}\n  labels: { ${labels.join(", ")} }\nspec:\n` +
    shape.body(tenant, name, t * 31 + i)
  );
}

export function integrationPath(t: number, i: number): string {
  return `integrations/${tenantName(t)}/${integrationName(t, i)}.yaml`;
}

/** Writes `tenants` tenants with `perTenant` integrations each into the repository's work tree. */
export function writeRepository(repo: TestRepo, tenants: number, perTenant: number): void {
  for (let t = 0; t < tenants; t++) {
    repo.write(`tenants/${tenantName(t)}.yaml`, tenantManifest(t, perTenant));
    for (let i = 0; i < perTenant; i++) repo.write(integrationPath(t, i), integrationManifest(t, i));
  }
}
