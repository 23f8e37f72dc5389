/**
 * One round trip for many callers: `sharedFlush(nc)` resolves once the server has processed everything sent on
 * `nc` before the call (as `nc.flush()` does), but the callers of one turn of the event loop share a single
 * PING/PONG. A worker that takes over a hundred replicas at once subscribes each on its tenant's connection and
 * waits for the server to have the subscription: one flush per connection instead of one per replica.
 *
 * Why it is as safe as `nc.flush()`: the shared PING is written after every command the callers queued before
 * they called (the connection writes in order), and a caller that comes after the PING went out gets a new one.
 */
import type { NatsConnection } from "@nats-io/transport-node";

const pending = new WeakMap<NatsConnection, Promise<void>>();

export function sharedFlush(nc: NatsConnection): Promise<void> {
  const waiting = pending.get(nc);
  if (waiting) return waiting;
  const flushed = new Promise<void>((resolve, reject) => {
    setImmediate(() => {
      pending.delete(nc); // from here on the PING is on its way: later callers need their own
      nc.flush().then(resolve, reject);
    });
  });
  pending.set(nc, flushed);
  return flushed;
}
