/**
 * A local nats-server in operator mode for the keys of an installation (development, `vrsky up`, tests):
 * LocalNatsServer with the operator, system account, full resolver and preloaded system and platform accounts.
 */
import { join } from "node:path";
import { LocalNatsServer, type LocalServerOptions } from "../nats/local-server.js";
import { serverConfig, type VrskyKeys } from "./keys.js";

export interface OperatorServerOptions extends Omit<LocalServerOptions, "extraConfig"> {
  /** More configuration (e.g. a `cluster { }` block), appended after the operator-mode fragment. */
  extraConfig?: string;
  /** Account JWTs to preload besides the system and platform accounts. */
  preload?: string[];
}

/** Starts a server trusting `keys`' operator; its resolver store lives in `<dir>/resolver` (one per server). */
export async function startOperatorServer(keys: VrskyKeys, o: OperatorServerOptions): Promise<LocalNatsServer> {
  const fragment = serverConfig(keys, { resolverDir: join(o.dir, "resolver"), preload: o.preload });
  return new LocalNatsServer({ ...o, extraConfig: fragment + (o.extraConfig ?? "") }).start();
}
