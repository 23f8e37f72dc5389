/**
 * `GET /api/v1/events`: a server-sent event stream of changes. Each event (`event: change`) names what changed
 * since the last one — `{"changes":[{"kind":"integration","key":"acme.orders","tenant":"acme"}]}` — and never a
 * value: a client reads the resource again. A tenant key gets the changes of its own tenant and of the sync state.
 * Comment lines keep an idle stream open through proxies; streams end when the server closes, and a tenant key's
 * streams end once a commit removed the key. A key holds at most `maxStreamsPerKey` streams at once (the admin
 * key, each tenant key): one more is 429 until one of them closes.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { KeyRing, stillValid } from "./auth.js";
import { visibleChanges, type ChangeFeed } from "./events.js";
import type { ApiMetrics } from "./metrics.js";
import { problem } from "./replies.js";
import { jsonErrorResponses } from "./schemas.js";
import type { ApiModel } from "./state.js";

export function openEventStreams(
  app: FastifyInstance,
  d: {
    feed: Pick<ChangeFeed, "subscribe">;
    state: { get(): ApiModel };
    metrics: ApiMetrics;
    keepAliveMs: number;
    maxStreamsPerKey: number;
  },
): void {
  const open = new Set<ServerResponse>();
  /** Open streams per key (KeyRing.rateKey: never the key itself). */
  const perKey = new Map<string, number>();
  app.addHook("preClose", async () => {
    for (const res of open) res.end();
  });

  app.get(
    "/api/v1/events",
    {
      schema: {
        summary: "A server-sent event stream of changes (text/event-stream)",
        tags: ["status"],
        response: {
          200: {
            description: 'Changes as they happen: `event: change`, `data: {"changes":[{"kind","key","tenant"}]}`',
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          ...jsonErrorResponses,
        },
      },
    },
    (req, reply) => {
      const principal = req.principal!;
      const slot = KeyRing.rateKey(principal);
      const held = perKey.get(slot) ?? 0;
      if (held >= d.maxStreamsPerKey)
        return problem(
          reply,
          429,
          `too many event streams: this key has ${held} open, at most ${d.maxStreamsPerKey}; close one first`,
        );
      perKey.set(slot, held + 1);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      });
      res.write("retry: 2000\n: connected\n\n");
      open.add(res);
      d.metrics.streamOpened();
      let id = 0;
      const unsubscribe = d.feed.subscribe((batch) => {
        // A tenant key removed by a commit ends its streams: the client reconnects and gets 401.
        if (!stillValid(principal, d.state.get().tenantKeys)) return void res.end();
        const changes = visibleChanges(batch, principal);
        if (changes.length === 0) return;
        res.write(`id: ${++id}\nevent: change\ndata: ${JSON.stringify({ changes })}\n\n`);
        d.metrics.eventSent();
      });
      const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), d.keepAliveMs);
      res.once("close", () => {
        const left = (perKey.get(slot) ?? 1) - 1;
        if (left > 0) perKey.set(slot, left);
        else perKey.delete(slot);
        clearInterval(keepAlive);
        unsubscribe();
        open.delete(res);
        d.metrics.streamClosed();
      });
    },
  );
}
