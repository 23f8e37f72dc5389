/**
 * The account a connection is in, as its server sees it (not as a creds file claims): asked as the system user of
 * the operator keys, with a CONNZ request to the connection's server filtered on its client id. nats-server 2.9 has
 * no `$SYS.REQ.USER.INFO` a platform user could ask itself.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { errorMessage, VrskyError } from "../errors/errors.js";
import type { VrskyKeys } from "./keys.js";

interface Connz {
  data?: { connections?: Array<{ cid?: number; account?: string }> };
  error?: { description?: string };
}

export async function connectionAccount(nc: NatsConnection, keys: VrskyKeys, timeoutMs = 5_000): Promise<string> {
  const info = nc.info;
  const server = nc.getServer();
  if (!info || !server) throw new VrskyError("VRS_NATS_UNAVAILABLE", "the connection is not connected to a server");
  let sys: NatsConnection;
  try {
    sys = await connect({
      servers: server,
      name: "vrsky-account-check",
      timeout: timeoutMs,
      authenticator: credsAuthenticator(readFileSync(keys.files.sysCreds)),
    });
  } catch (e) {
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot connect as the system user to ${server}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  try {
    const m = await sys.request(
      `$SYS.REQ.SERVER.${info.server_id}.CONNZ`,
      JSON.stringify({ cid: info.client_id, auth: true }),
      { timeout: timeoutMs },
    );
    const reply = m.json<Connz>();
    const conn = reply.data?.connections?.find((c) => c.cid === info.client_id);
    if (!conn?.account)
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        `server ${info.server_id} does not list connection ${info.client_id}${reply.error?.description ? `: ${reply.error.description}` : ""}`,
      );
    return conn.account;
  } catch (e) {
    if (e instanceof VrskyError) throw e;
    throw new VrskyError(
      "VRS_NATS_UNAVAILABLE",
      `cannot ask the server for the connection's account: ${errorMessage(e)}`,
      {
        cause: e,
      },
    );
  } finally {
    await sys.close().catch(() => undefined);
  }
}

/** Throws VRS_CREDS_NOT_PLATFORM unless `nc` is in the platform account of `keys`; `what` names the connection. */
export async function assertPlatformConnection(nc: NatsConnection, keys: VrskyKeys, what: string): Promise<void> {
  const account = await connectionAccount(nc, keys);
  const platform = keys.platformAccount.getPublicKey();
  if (account !== platform)
    throw new VrskyError(
      "VRS_CREDS_NOT_PLATFORM",
      `${what} is connected in account ${account}, not in the platform account ${platform}`,
    );
}
