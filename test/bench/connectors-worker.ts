/**
 * Child of connectors.bench.ts: one replica of an integration run by the flow runner as `vrsky worker` runs it, in
 * a process of its own (so that neither the load generator, the HTTP stand-in nor the floors share its CPU), with
 * a file root and a secrets folder. Tells its parent (IPC) `{ ready: true }` once the replica started, and stops
 * cleanly on SIGTERM or when the parent goes. Run it with `node --cpu-prof` to profile the replica.
 * Usage: node connectors-worker.js <nats url> <integration JSON> <file root> <secrets dir>.
 */
import { connect } from "@nats-io/transport-node";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { secretSource } from "../../engine/secrets/sources.js";
import { DataPlane } from "./dataplane-env.js";

const [url, resource, fileRoot, secretsDir] = process.argv.slice(2) as [string, string, string, string];

async function start(): Promise<() => Promise<void>> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const dp = await new DataPlane(nc, url).start();
  await dp.run(JSON.parse(resource) as IntegrationResource, {
    allowPrivateNetworks: true,
    fileRoot,
    secrets: secretSource({ secretsDir }),
  });
  return async () => {
    await dp.close();
    await nc.close();
  };
}

start().then(
  (stop) => {
    process.send?.({ ready: true });
    const end = () => void stop().finally(() => process.exit(0));
    process.once("SIGTERM", end);
    process.once("disconnect", end);
  },
  (e: unknown) => {
    process.stderr.write(`[connectors-worker] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
