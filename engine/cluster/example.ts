/**
 * The examples flowing through the local cluster: a signed order over 100 posted to acme's `orders` webhook
 * (integrations/acme/orders-to-slack.yaml) through the gateway, delivered by a worker to the stand-in receiver
 * in place of Slack, as `vrsky up` and `npm run demo` show it.
 */
import { readFileSync } from "node:fs";
import { post, sign } from "../demo/demos.js";
import { secs } from "../demo/session.js";
import type { LocalTopology } from "./topology.js";

export interface ExampleResult {
  /** The gateway's answer. */
  status: number;
  /** The receiver's line for the delivery. */
  delivered: string;
  ms: number;
}

export async function sendExampleOrder(t: LocalTopology, id: number, timeoutMs = 60_000): Promise<ExampleResult> {
  const info = t.info!;
  const signing = info.secrets.find((s) => s.tenant === "acme" && s.name === "shop-webhook-signing");
  if (!signing) throw new Error("no signing secret for acme/orders-to-slack: is integrations/acme/ in the repository?");
  const secret = readFileSync(signing.file, "utf8");
  const body = JSON.stringify({ order: { id, total: 150.5, email: "ann@example.com" } });
  const url = `${info.gateway}/t/acme/orders`;
  const key = `cluster-order-${id}-${Date.now()}`;
  const started = Date.now();
  const arrived = t.receiverLine((l) => l.includes(`Idempotency-Key ${key}`), timeoutMs);
  arrived.catch(() => undefined);
  const answer = await post(url, { "idempotency-key": key, "x-signature-256": sign(body, secret) }, body);
  t.o.say(`  → POST ${url} (order ${id}, total 150.5, signed): ${answer.status} ${answer.text}`);
  if (answer.status !== 202) throw new Error(`the gateway answered ${answer.status} ${answer.text}`);
  const delivered = await arrived;
  t.o.say(`  ✓ delivered to the stand-in receiver (${secs(started)})`);
  return { status: answer.status, delivered, ms: Date.now() - started };
}
