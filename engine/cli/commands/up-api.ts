/**
 * The status API of `vrsky up` (`--api-listen`): the admin key from VRSKY_API_ADMIN_KEY, else from
 * `<data>/api-admin-key`, made on first use (32 random bytes as hex, mode 0600, in the data folder git ignores).
 */
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { startApi, type Api } from "../../api/api.js";
import type { Log } from "../../api/state.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import type { ListenAddress } from "../../util/listen-address.js";
import { packageVersion } from "../../util/package-root.js";
import { ADMIN_KEY_ENV, rateLimitFlag, readAdminKey } from "./api.js";

export interface LocalApi {
  api: Api;
  /** Where the admin key is (undefined: it came from the environment). */
  keyFile: string | undefined;
  close(): Promise<void>;
}

/** The admin key's file in the data folder, made when missing; undefined when the environment gives the key. */
export function localAdminKeyFile(data: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[ADMIN_KEY_ENV]) return undefined;
  const file = resolve(join(data, "api-admin-key"));
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  return file;
}

export async function startLocalApi(o: {
  url: string;
  creds: string | undefined;
  listen: ListenAddress;
  data: string;
  log: Log;
  telemetry: Telemetry;
  /** The repository and branch `vrsky up` reconciles, for `/api/v1/plan`. */
  repo: { dir: string; branch: string };
}): Promise<LocalApi> {
  const keyFile = localAdminKeyFile(o.data);
  const adminKey = readAdminKey(keyFile, process.env[ADMIN_KEY_ENV]);
  const nc: NatsConnection = await connectNats({ url: o.url, creds: o.creds, name: "vrsky-api-local" });
  try {
    const api = await startApi({
      nc,
      listen: o.listen,
      listenFlag: "--api-listen",
      adminKey,
      rateLimit: rateLimitFlag("600/1m"),
      version: packageVersion(),
      log: o.log,
      telemetry: o.telemetry,
      repo: o.repo,
    });
    let closed: Promise<void> | undefined;
    return {
      api,
      keyFile,
      close: () =>
        (closed ??= (async () => {
          await api.close();
          await closeNats(nc);
        })()),
    };
  } catch (e) {
    await closeNats(nc);
    throw e;
  }
}
