import { createHash } from "node:crypto";

/**
 * Deterministic, realistic manifests for `npm run bench:validate`: tenants with labels, limits, API keys and
 * sometimes dedicated instances; integrations that combine every source, step and sink type, with CEL
 * conditions, map steps, templates, Postgres column maps, retry and dead-letter settings, written in the
 * mixed block/flow YAML style people use. The same (tenant, integration) numbers always give the same bytes.
 */

export const tenantName = (t: number) => `tenant-${String(t).padStart(4, "0")}`;

/**
 * Integrations of tenant t: between 5 and 15, paired so that the total is exactly perTenant × tenants for an
 * even number of tenants (tenant 2k gets perTenant + d, tenant 2k+1 gets perTenant − d).
 */
export function integrationCount(t: number, perTenant: number): number {
  const d = Math.min(Math.floor(t / 2) % 6, perTenant - 1);
  return t % 2 === 0 ? perTenant + d : perTenant - d;
}

const WORDS = [
  "orders",
  "invoices",
  "shipments",
  "payments",
  "customers",
  "refunds",
  "stock",
  "returns",
  "leads",
  "tickets",
  "events",
  "audit",
  "prices",
  "bookings",
  "claims",
  "readings",
];
const VERBS = [
  "sync",
  "to-slack",
  "to-erp",
  "ingest",
  "export",
  "archive",
  "fanout",
  "enrich",
  "notify",
  "mirror",
  "audit",
  "rollup",
];

export function integrationName(t: number, i: number): string {
  return `${WORDS[(t * 7 + i) % WORDS.length]}-${VERBS[(t + i * 5) % VERBS.length]}-${String(i).padStart(2, "0")}`;
}

export function tenantPath(t: number): string {
  return `tenants/${tenantName(t)}.yaml`;
}

export function integrationPath(t: number, i: number): string {
  return `integrations/${tenantName(t)}/${integrationName(t, i)}.yaml`;
}

/** mulberry32: a small seeded PRNG, so every file is a pure function of its numbers. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = { n: (k: number) => number; pick: <T>(xs: readonly T[]) => T; chance: (p: number) => boolean };

function rand(seed: number): Rand {
  const r = rng(seed);
  return {
    n: (k) => Math.floor(r() * k),
    pick: (xs) => xs[Math.floor(r() * xs.length)]!,
    chance: (p) => r() < p,
  };
}

/** A YAML scalar for text: plain when that is unambiguous, double-quoted (JSON) otherwise. */
function q(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_. ()<>=+-]*[A-Za-z0-9_)]$/.test(s) && !/ [#:]|: /.test(s) ? s : JSON.stringify(s);
}

export function tenantManifest(t: number, perTenant: number): string {
  const r = rand(0x7e4a17 ^ (t * 2654435761));
  const name = tenantName(t);
  const count = integrationCount(t, perTenant);
  const dedicated = t % 10 === 3;
  const lines = [
    "# yaml-language-server: $schema=../schemas/tenant.schema.json",
    "apiVersion: vrsky.io/v1",
    "kind: Tenant",
    "metadata:",
    `  name: ${name}`,
    `  labels: { team: team-${t % 37}, region: ${r.pick(["eu-west", "us-east", "ap-south", "eu-central"])}, cost-center: "cc-${1000 + (t % 250)}" }`,
  ];
  if (r.chance(0.3))
    lines.push(
      "  annotations:",
      `    owner: "platform-team-${t % 12}@example.com"`,
      `    vrsky.io/onboarded: "2024-${String(1 + (t % 12)).padStart(2, "0")}-15"`,
    );
  lines.push("spec:", `  tier: ${dedicated ? "dedicated" : "shared"}`, "  limits:");
  // Room to grow, as real tenants have: the limit always allows the tenant's integrations.
  lines.push(`    integrations: ${count + 5 + r.n(20)}`);
  if (r.chance(0.5)) lines.push(`    replicas: ${count * 3 + 10}`);
  lines.push(`    connections: ${r.pick([100, 200, 500])}`);
  if (r.chance(0.6)) lines.push(`    payloadBytes: ${r.pick(["1MiB", "512KiB", "4MiB", "1048576"])}`);
  if (r.chance(0.7)) {
    lines.push(
      `    jetstream: { memoryBytes: ${r.pick(["64MiB", "128MiB", "256MiB"])}, storageBytes: ${r.pick(["1GiB", "10GiB", "5GB"])}, streams: 50, consumers: 500 }`,
    );
  }
  if (dedicated)
    lines.push(`  instances: { min: 1, max: ${2 + r.n(3)}, integrationsPerInstance: ${r.pick([10, 25, 50])} }`);
  const keys = 1 + r.n(3);
  lines.push(
    "  apiKeys:",
    "    # only the SHA-256 of each key; the keys themselves live in the platform's secret store",
  );
  for (let k = 0; k < keys; k++) {
    const hash = createHash("sha256").update(`${name}-key-${k}`).digest("hex");
    lines.push(`    - { name: ${["dashboards", "ops", "billing"][k]}, sha256: "${hash}" }`);
  }
  if (t % 17 === 5) lines.push("  suspend: true");
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------- CEL
const CONDITIONS = [
  (n: number) => `body.total > ${50 + (n % 40) * 5}.0`,
  () => "headers['x-archive'] == 'yes'",
  () => "size(body.items) > 0",
  () => "body.status in ['paid', 'shipped']",
  () => "has(body.customer) && body.customer.tier == 'gold'",
  () => "attributes.subject.startsWith('orders.')",
  (n: number) => `body.country == '${["DE", "FR", "US", "NL", "SE"][n % 5]}' || body.country == 'AT'`,
  (n: number) => `body.amount >= ${100 * (1 + (n % 9))} && body.currency == 'EUR'`,
  () => "headers['content-type'].contains('json')",
  () => "body.tags.exists(t, t == 'urgent')",
  () => "!has(body.test) || body.test == false",
  () => "headers['x-env'] != 'staging'",
  (n: number) => `body.qty > 0 && body.qty < ${1000 + (n % 100)}`,
];

const FIELD_EXPRESSIONS: Array<[string, (n: number) => string]> = [
  ["id", () => "body.id"],
  ["orderId", () => "string(body.order.id)"],
  ["total", () => "body.order.total"],
  ["gross", (n) => `double(body.price) * ${(1 + (n % 25) / 100).toFixed(2)}`],
  ["qty", () => "int(body.qty) * 2"],
  ["text", () => "'New order ' + string(body.order.id)"],
  ["customer.key", () => "body.customer.id + '-' + body.order.id"],
  ["customer.name", () => "body.name.lowerAscii()"],
  ["priority", () => "has(body.priority) ? body.priority : 'normal'"],
  ["skus", () => "body.lines.map(l, l.sku)"],
  ["receivedAt", () => "attributes.receivedAt"],
  ["source", () => "attributes.subject"],
  ["meta", () => "{'id': body.id, 'kind': body.kind}"],
  ["big", (n) => `body.total > ${n % 500}`],
];

const SPLIT_ITEMS = [
  "body.items",
  "body.lines.map(l, l.sku)",
  "body.orders.filter(o, o.total > 10.0)",
  "[body.a, body.b]",
];

// ---------------------------------------------------------------------------------------------- integrations
interface Ctx {
  r: Rand;
  t: number;
  i: number;
  tenant: string;
  name: string;
  seq: number;
}

const cond = (c: Ctx) => c.r.pick(CONDITIONS)(c.seq + c.r.n(1000));

function source(c: Ctx): string[] {
  const { r, tenant, name } = c;
  switch (r.pick(["http", "http", "file", "postgres-cdc", "nats", "nats", "timer"] as const)) {
    case "http": {
      const out = ["  source:", "    type: http", "    config:", `      path: /hooks/${name}`];
      if (r.chance(0.4)) out.push("      methods: [POST, PUT]");
      if (r.chance(0.5)) out.push(`      signature: { secretRef: ${name}-signing, header: x-hub-signature-256 }`);
      if (r.chance(0.3)) out.push(`      maxBodyBytes: ${r.pick(["512KiB", "2MiB", "65536"])}`);
      return out;
    }
    case "file":
      return [
        "  source:",
        "    type: file",
        `    config: { directory: /var/lib/vrsky/inbox/${tenant}/${name}, pattern: "*.${r.pick(["csv", "json", "xml"])}", afterRead: move, moveTo: /var/lib/vrsky/done/${tenant}, pollInterval: ${r.pick(["5s", "30s", "1m", "1500ms"])} }`,
      ];
    case "postgres-cdc":
      return [
        "  source:",
        "    type: postgres-cdc",
        "    config:",
        `      host: pg-${c.t % 20}.db.internal`,
        `      database: ${r.pick(["shop", "erp", "crm"])}`,
        "      user: vrsky_cdc",
        `      secretRef: ${tenant}-cdc`,
        `      slot: vrsky_${tenant.replace("-", "_")}_${c.i}`,
        `      publication: pub_${r.pick(["orders", "customers", "stock"])}`,
        `      tables: [public.${r.pick(["orders", "customers", "stock"])}, public.order_lines]`,
        ...(r.chance(0.5) ? ["      operations: [insert, update]"] : []),
        `      sslmode: ${r.pick(["require", "verify-full", "prefer"])}`,
      ];
    case "nats":
      return [
        "  source:",
        "    type: nats",
        `    config: { subject: "${r.pick(WORDS)}.${r.pick(["*", "created", "updated"])}.>", queue: ${name}${r.chance(0.3) ? `, stream: ${r.pick(WORDS)}` : ""} }`,
      ];
    case "timer":
      return [
        "  source:",
        "    type: timer",
        "    config:",
        `      interval: ${r.pick(["5m", "1h", "30s", "1h30m", "1d"])}`,
        `      payload: { job: ${name}, batch: ${1 + r.n(500)}, full: ${r.chance(0.2)} }`,
      ];
  }
}

function step(c: Ctx, k: number): string[] {
  const { r } = c;
  const head = (type: string) => {
    const out = [`    - name: ${type}-${k}`, `      type: ${type}`];
    if (r.chance(0.15)) out.push(`      when: ${q(cond(c))}`);
    return out;
  };
  switch (r.pick(["map", "map", "map", "filter", "filter", "xml", "csv", "template", "split"] as const)) {
    case "map": {
      const out = [...head("map"), "      config:"];
      if (r.chance(0.3)) out.push("        mode: merge");
      out.push("        fields:");
      const start = r.n(FIELD_EXPRESSIONS.length);
      const n = 2 + r.n(6);
      for (let f = 0; f < n; f++) {
        const [field, expr] = FIELD_EXPRESSIONS[(start + f) % FIELD_EXPRESSIONS.length]!;
        out.push(`          ${field}: ${q(expr(c.seq + f))}`);
      }
      return out;
    }
    case "filter":
      return [...head("filter"), `      config: { when: ${JSON.stringify(cond(c))} }`];
    case "xml":
      return [
        ...head("xml"),
        `      config: { direction: ${r.pick(["xml-to-json", "json-to-xml"])}, rootElement: ${r.pick(["order", "shipment", "Invoice"])}, arrays: [lines.line, notes.note] }`,
      ];
    case "csv":
      return r.chance(0.5)
        ? [
            ...head("csv"),
            `      config: { header: true, emit: ${r.pick(["rows", "array"])}, delimiter: "${r.pick([",", ";", "|"])}" }`,
          ]
        : [
            ...head("csv"),
            "      config:",
            "        header: false",
            "        columns: [id, sku, qty, price]",
            "        emit: rows",
          ];
    case "template":
      return [
        ...head("template"),
        "      config:",
        "        contentType: text/markdown",
        "        template: |",
        `          *{{ body.kind }}* {{ string(body.id) }} for {{ body.customer.name }}`,
        `          total: {{ string(body.total) }} ({{ has(body.currency) ? body.currency : 'EUR' }})`,
        `          received {{ string(attributes.receivedAt) }} on ${c.tenant}`,
      ];
    case "split":
      return [
        ...head("split"),
        `      config: { items: ${JSON.stringify(r.pick(SPLIT_ITEMS))}, maxItems: ${r.pick([100, 1000, 10000])} }`,
      ];
  }
}

function sink(c: Ctx, k: number): string[] {
  const { r, tenant, name } = c;
  const head = (type: string) => {
    const out = [`    - name: ${type}-out-${k}`, `      type: ${type}`];
    if (r.chance(0.25)) out.push(`      when: ${JSON.stringify(cond(c))}`);
    return out;
  };
  switch (r.pick(["http", "http", "file", "postgres", "nats", "nats"] as const)) {
    case "http":
      return r.chance(0.5)
        ? [
            ...head("http"),
            `      config: { secretRef: ${tenant}-slack-webhook, timeout: ${r.pick(["5s", "10s", "2500ms"])} }`,
          ]
        : [
            ...head("http"),
            "      config:",
            `        url: "https://${r.pick(["erp", "crm", "tracking", "hooks"])}.example.com/api/v2/${tenant}/${name}"`,
            `        method: ${r.pick(["POST", "PUT", "PATCH"])}`,
            `        headers: { X-Tenant: ${tenant}, Content-Type: application/json }`,
            `        timeout: ${r.pick(["5s", "10s", "30s"])}`,
            "        successStatus: [200, 201, 202]",
          ];
    case "file":
      return [
        ...head("file"),
        `      config: { directory: /var/lib/vrsky/out/${tenant}, filename: "${name}-{{ attributes.id }}.${r.pick(["json", "txt"])}", format: ${r.pick(["json", "raw"])} }`,
      ];
    case "postgres": {
      const out = [
        ...head("postgres"),
        "      config:",
        `        host: pg-${c.t % 20}.db.internal`,
        `        port: ${r.pick([5432, 6432])}`,
        `        database: ${r.pick(["ledger", "warehouse", "analytics"])}`,
        "        user: vrsky",
        `        secretRef: ${tenant}-db`,
        `        table: ${r.pick(["public", "staging"])}.${r.pick(WORDS)}`,
      ];
      if (r.chance(0.6)) out.push("        mode: upsert", `        key: [${r.pick(["id", "order_id", "invoice_id"])}]`);
      if (r.chance(0.6)) {
        out.push(
          "        columns:",
          "          id: body.id",
          "          amount: double(body.amount)",
          `          source: "'${name}'"`,
          "          received_at: attributes.receivedAt",
        );
      }
      out.push(`        batchSize: ${r.pick([50, 100, 500])}`);
      return out;
    }
    case "nats":
      return [
        ...head("nats"),
        `      config: { subject: ${tenant}.${r.pick(WORDS)}.${r.pick(["out", "archive", "processed"])}, jetstream: ${r.chance(0.5)} }`,
      ];
  }
}

/**
 * Integration i of tenant t. `edited` gives the same manifest with two values changed (replicas and the
 * retry attempts), for the one-file commit the plan measures.
 */
export function integrationManifest(t: number, i: number, edited = false): string {
  const tenant = tenantName(t);
  const name = integrationName(t, i);
  const r = rand(0x5eed ^ Math.imul(t + 1, 40503) ^ Math.imul(i + 1, 2246822519));
  const c: Ctx = { r, t, i, tenant, name, seq: t * 31 + i };
  const lines = [
    "# yaml-language-server: $schema=../../schemas/integration.schema.json",
    "apiVersion: vrsky.io/v1",
    "kind: Integration",
    "metadata:",
    `  name: ${name}`,
    `  tenant: ${tenant}`,
  ];
  if (r.chance(0.6))
    lines.push(`  labels: { domain: ${r.pick(WORDS)}, criticality: ${r.pick(["low", "medium", "high"])} }`);
  lines.push("spec:");
  const replicas = 1 + r.n(3);
  if (r.chance(0.7) || edited) lines.push(`  replicas: ${edited ? replicas + 1 : replicas}`);
  if (r.chance(0.03)) lines.push("  suspend: true");
  lines.push(...source(c));
  const steps = r.n(5);
  if (steps > 0) {
    lines.push("  steps:");
    for (let k = 0; k < steps; k++) lines.push(...step(c, k));
  }
  lines.push("  sinks:");
  const sinks = 1 + r.n(3);
  for (let k = 0; k < sinks; k++) lines.push(...sink(c, k));
  // Every draw happens whether or not the line is written, so `edited` changes nothing else.
  const attempts = 3 + r.n(5);
  const retry = `initialBackoff: ${r.pick(["500ms", "1s", "2s"])}, maxBackoff: ${r.pick(["30s", "1m", "5m"])}, multiplier: ${r.pick([2, 1.5, 3])}`;
  if (r.chance(0.6) || edited) lines.push(`  retry: { maxAttempts: ${edited ? attempts + 2 : attempts}, ${retry} }`);
  if (r.chance(0.5)) lines.push(`  deadLetter: { enabled: true, retention: ${r.pick(["7d", "14d", "72h"])} }`);
  return lines.join("\n") + "\n";
}
