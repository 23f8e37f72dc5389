/**
 * Child of dataplane.bench.ts (figure 2): one side of the webhook pipeline in its own process, as it is deployed
 * (the gateway and the worker are separate processes), so that neither it nor its floor shares a CPU with the
 * load generator and the receiver of the parent. Roles:
 *
 * - `vrsky-gateway`: the ingest gateway (startGateway), routes from the platform buckets;
 * - `vrsky-worker <integration JSON>`: one replica of the integration, run by the flow runner as a worker runs it;
 * - `floor-ingest`: fastify → JetStream publish → 202;   `floor-deliver <target>`: consume → undici POST → ack.
 *
 * It tells its parent (IPC) `{ ready: true, url? }` once it serves, and stops cleanly on SIGTERM.
 * Usage: node dataplane-hops.js <nats url> <role> [argument].
 */
import { connect } from "@nats-io/transport-node";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { DataPlane } from "./dataplane-env.js";
import { webhookFloorDeliver, webhookFloorIngest } from "./dataplane-floors.js";

const [url, role, arg] = [process.argv[2]!, process.argv[3]!, process.argv[4] ?? ""];

async function start(): Promise<{ url?: string; stop(): Promise<void> }> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const closing = async (stop: () => Promise<void>) => {
    await stop();
    await nc.close();
  };
  switch (role) {
    case "floor-ingest": {
      const f = await webhookFloorIngest(nc);
      return { url: f.url, stop: () => closing(f.stop) };
    }
    case "floor-deliver": {
      const f = webhookFloorDeliver(nc, arg);
      return { stop: () => closing(f.stop) };
    }
    case "vrsky-gateway": {
      const dp = await new DataPlane(nc, url).start();
      const g = await dp.gateway();
      await g.ready;
      return { url: g.url, stop: () => closing(() => g.close()) };
    }
    case "vrsky-worker": {
      const dp = await new DataPlane(nc, url).start();
      await dp.run(JSON.parse(arg) as IntegrationResource, { allowPrivateNetworks: true });
      return { stop: () => closing(() => dp.close()) };
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

start().then(
  (s) => {
    process.send?.({ ready: true, ...(s.url ? { url: s.url } : {}) });
    process.once("SIGTERM", () => void s.stop().finally(() => process.exit(0)));
    process.once("disconnect", () => void s.stop().finally(() => process.exit(0)));
  },
  (e: unknown) => {
    process.stderr.write(`[${role}] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
