/**
 * The four demos (docs/demos.md), each on a running DemoSession: what is sent, what arrives where, and a check
 * that throws when it does not. Each returns what it saw, for the runner's summary and for the end-to-end test.
 */
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openTenantAccess } from "../cli/tenant-access.js";
import { DeadLetters } from "../dataplane/dead-letters.js";
import { secs, TENANT, type DemoSession } from "./session.js";
import type { Received } from "./stand-in.js";

const WAIT_MS = 45_000;

export type Say = (line: string) => void;

/** `sha256=<hex HMAC-SHA256 of the body>`, as GitHub signs (X-Hub-Signature-256) and the shop demo does. */
export function sign(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Posts as a webhook sender does: a 503 or 404 (the route not loaded yet) is retried for a while (20 s). */
export async function post(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + 20_000;
  for (let wait = 100; ; wait = Math.min(1_000, wait * 2)) {
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    const text = await r.text();
    if (![404, 503].includes(r.status) || Date.now() > deadline) return { status: r.status, text };
    await new Promise((res) => setTimeout(res, wait));
  }
}

function expectStatus(what: string, got: { status: number; text: string }, want: number): void {
  if (got.status !== want) throw new Error(`${what}: expected HTTP ${want}, got ${got.status} ${got.text}`);
}

/** Polls `check` (a database query) until it returns something; for state no event announces. */
async function poll<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await check();
    if (r !== undefined) return r;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const attempt = (r: Received) => `${r.status}${r.status === 200 ? " OK" : ""}`;

export interface Demo1Result {
  slack: string[];
  unsigned: number;
}

/** 1. A GitHub push and pull_request webhook, signed with X-Hub-Signature-256 → map → Slack. */
export async function demoGithub(s: DemoSession, say: Say): Promise<Demo1Result> {
  const url = `${s.info!.gateway}/t/${TENANT}/github`;
  const secret = s.secrets["github-webhook-secret"]!;
  const push = JSON.stringify({
    ref: "refs/heads/main",
    repository: { full_name: "octo-org/shop" },
    pusher: { name: "octocat" },
    commits: [{ id: "a1b2c3d" }, { id: "e4f5a6b" }],
    head_commit: { message: "Fix the checkout total" },
  });
  const pr = JSON.stringify({
    action: "opened",
    number: 42,
    repository: { full_name: "octo-org/shop" },
    sender: { login: "hubot" },
    pull_request: { title: "Add gift cards", html_url: "https://github.com/octo-org/shop/pull/42" },
  });
  const unsigned = await post(url, { "x-github-event": "push", "x-github-delivery": randomUUID() }, push);
  say(`  → push without a signature: ${unsigned.status} (refused)`);
  expectStatus("an unsigned push", unsigned, 401);
  const out: string[] = [];
  for (const [event, body] of [
    ["push", push],
    ["pull_request", pr],
  ] as const) {
    const delivery = randomUUID();
    const t = Date.now();
    const a = await post(
      url,
      { "x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": sign(body, secret) },
      body,
    );
    say(
      `  → GitHub ${event} (X-GitHub-Delivery ${delivery}, signed X-Hub-Signature-256) to ${url}: ${a.status} ${a.text}`,
    );
    expectStatus(`the ${event} webhook`, a, 202);
    const got = await s.slack.waitFor(
      (r) => r.headers["idempotency-key"] === delivery,
      WAIT_MS,
      `the ${event} message`,
    );
    say(`  ← Slack got POST ${got.path.replace(/[^/]+$/, "…")} ${got.body} (${secs(t)})`);
    out.push((JSON.parse(got.body) as { text: string }).text);
  }
  return { slack: out, unsigned: unsigned.status };
}

export interface Demo2Result {
  rows: Array<Record<string, unknown>>;
  dead: Array<{ code: string | null; error: string | null }>;
}

/** 2. A CSV file dropped into the inbox → csv → upsert into `products`; a bad row dead-lettered with its line. */
export async function demoCsv(s: DemoSession, say: Say): Promise<Demo2Result> {
  await s.db.query("INSERT INTO products VALUES ('A-100', 'Espresso cup', 9.90, 12)");
  say("  table products before: A-100 Espresso cup 9.90 (12 in stock)");
  const csv = [
    "sku,name,price,stock",
    "A-100,Espresso cup,12.50,40",
    "A-200,Milk jug,18.00,15",
    "A-300,Tamper,24.90",
    "A-400,Knock box,31.00,8",
    "",
  ].join("\n");
  const inbox = join(s.fileRoot, "inbox");
  mkdirSync(inbox, { recursive: true });
  // Written elsewhere and renamed in, so the source never sees half a file.
  const temp = join(s.fileRoot, ".products.csv.part");
  writeFileSync(temp, csv);
  const t = Date.now();
  renameSync(temp, join(inbox, "products-2026-12-02.csv"));
  say(`  → dropped products-2026-12-02.csv into ${inbox}:`);
  for (const [i, line] of csv.trimEnd().split("\n").entries()) say(`      ${String(i + 1).padStart(2)}  ${line}`);
  const rows = await poll(async () => {
    const r = await s.db.query("SELECT sku, name, price::text, stock FROM products ORDER BY sku");
    return r.length >= 3 && r.some((x) => x.price === "12.50") ? r : undefined;
  }, "the upsert into products");
  say(`  ← table products (${secs(t)}):`);
  for (const r of rows)
    say(
      `      ${String(r.sku)}  ${String(r.name).padEnd(14)} ${String(r.price).padStart(6)}  ${String(r.stock)} in stock`,
    );
  const dead = await poll(async () => {
    const access = await openTenantAccess({
      nats: s.info!.nats,
      keys: s.info!.keys,
      tenant: TENANT,
      name: "vrsky-demo",
    });
    try {
      const d = await DeadLetters.open(access.nc, TENANT, "csv-to-postgres");
      const { items } = await d.list({ limit: 10 });
      return items.length > 0
        ? items.map((i) => ({ code: i.context?.code ?? null, error: i.context?.error ?? null }))
        : undefined;
    } finally {
      await access.close();
    }
  }, "the dead letter of the bad row");
  for (const d of dead) say(`  ✗ dead letter: ${d.code}: ${d.error}`);
  say("    (see them with: npx vrsky dlq list --tenant demo --integration csv-to-postgres --nats … --keys …)");
  return { rows, dead };
}

export interface Demo3Result {
  attempts: Received[];
}

/** 3. Rows inserted and updated in `customers` → CDC → map → the CRM API, which fails twice (503) first. */
export async function demoCdc(s: DemoSession, say: Say): Promise<Demo3Result> {
  await s.engine!.waitForEvent((e) => e.event === "cdc-streaming", WAIT_MS, "the CDC source to stream");
  say("  slot vrsky_demo_customers streaming (logical replication, pgoutput)");
  s.crm.failNext(503, 503);
  say("  the CRM API stand-in will answer 503 to the next 2 requests");
  const t = Date.now();
  const [row] = await s.db.query<{ id: number }>(
    "INSERT INTO customers (name, email) VALUES ('Ada Lovelace', 'ada@example.com') RETURNING id",
  );
  say(`  → INSERT INTO customers: id ${row!.id}, Ada Lovelace, ada@example.com`);
  const ok = await s.crm.waitFor((r) => r.status === 200 && r.body.includes("customer.insert"), WAIT_MS, "the insert");
  const tries = s.crm.requests.filter((r) => r.headers["idempotency-key"] === ok.headers["idempotency-key"]);
  for (const [i, r] of tries.entries())
    say(
      `  ← CRM API attempt ${i + 1} at +${((r.at - t) / 1000).toFixed(1)} s: ${attempt(r)}${r.status === 200 ? ` ${r.body}` : ""}`,
    );
  await s.db.query("UPDATE customers SET email = 'ada@lovelace.example' WHERE id = $1", [row!.id]);
  say("  → UPDATE customers SET email = 'ada@lovelace.example'");
  const upd = await s.crm.waitFor((r) => r.status === 200 && r.body.includes("customer.update"), WAIT_MS, "the update");
  say(`  ← CRM API: ${attempt(upd)} ${upd.body}`);
  return { attempts: [...tries, upd] };
}

export interface Demo4Result {
  slackAttempts: Received[];
  rows: Array<Record<string, unknown>>;
}

/** 4. Orders → filter → PostgreSQL and (big ones) Slack in parallel; Slack fails twice, the row is inserted once. */
export async function demoOrders(s: DemoSession, say: Say): Promise<Demo4Result> {
  const url = `${s.info!.gateway}/t/${TENANT}/orders`;
  const secret = s.secrets["shop-webhook-signing"]!;
  s.slack.failNext(503, 503);
  say("  the Slack stand-in will answer 503 to the next 2 requests");
  const orders = [
    { id: "A-1001", customer: "Ann", total: 149.9, status: "paid" },
    { id: "A-1002", customer: "Bob", total: 12.5, status: "paid" },
    { id: "A-1003", customer: "Cy", total: 500, status: "pending" },
  ];
  const t = Date.now();
  for (const o of orders) {
    const body = JSON.stringify(o);
    const a = await post(url, { "idempotency-key": `order-${o.id}`, "x-signature-256": sign(body, secret) }, body);
    say(`  → order ${o.id} (${o.total} EUR, ${o.status}) to ${url}: ${a.status}`);
    expectStatus(`order ${o.id}`, a, 202);
  }
  const ok = await s.slack.waitFor(
    (r) => r.status === 200 && r.headers["idempotency-key"] === "order-A-1001",
    WAIT_MS,
    "the Slack message of order A-1001",
  );
  const rows = await poll(async () => {
    const r = await s.db.query("SELECT order_id, customer, total::text, inserted_at FROM orders ORDER BY id");
    return r.length >= 2 ? r : undefined;
  }, "the orders in the table");
  for (const r of rows)
    say(
      `  ← table orders: ${String(r.order_id)} ${String(r.customer)} ${String(r.total)} inserted at +${((new Date(r.inserted_at as string).getTime() - t) / 1000).toFixed(1)} s`,
    );
  const tries = s.slack.requests.filter((r) => r.headers["idempotency-key"] === "order-A-1001");
  for (const [i, r] of tries.entries())
    say(
      `  ← Slack attempt ${i + 1} at +${((r.at - t) / 1000).toFixed(1)} s: ${attempt(r)}${r === ok ? ` ${r.body}` : ""}`,
    );
  const a1001 = rows.filter((r) => r.order_id === "A-1001").length;
  say(`  ✓ order A-1001 is in the table ${a1001} time(s) although it was sent to Slack ${tries.length} times`);
  if (a1001 !== 1) throw new Error(`order A-1001 was inserted ${a1001} times`);
  if (rows.some((r) => r.order_id === "A-1003")) throw new Error("the pending order A-1003 was inserted");
  say("  ✓ order A-1002 (small) went to the table only; A-1003 (pending) was dropped by the filter");
  return { slackAttempts: tries, rows };
}
