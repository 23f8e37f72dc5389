import type { NatsConnection } from "@nats-io/transport-node";
import { CREDS_SUBJECT } from "../contract/subjects.js";
import type { WorkerCredsReply, WorkerCredsRequest } from "../contract/worker-creds.js";
import { VrskyError } from "../errors/errors.js";
import { signedText, type WorkerIdentity } from "../accounts/worker-identity.js";

/**
 * Asks the platform for a user JWT for `userPublicKey` in the tenant's account, signed with the worker's
 * `identity` (operator mode needs it). Throws with the refusal's reason.
 */
export async function requestWorkerJwt(
  nc: NatsConnection,
  req: WorkerCredsRequest,
  identity?: WorkerIdentity,
  timeoutMs = 5_000,
): Promise<{ jwt: string; expiresAt: string }> {
  const signed: WorkerCredsRequest = identity
    ? { ...req, identity: identity.jwt, sig: Buffer.from(identity.sign(signedText(req))).toString("base64url") }
    : req;
  const m = await nc.request(CREDS_SUBJECT, JSON.stringify(signed), { timeout: timeoutMs });
  const reply = m.json<WorkerCredsReply>();
  if (!reply.ok)
    throw new VrskyError("VRS_WORKER_CREDS_REFUSED", `credentials for tenant ${req.tenant} refused: ${reply.error}`);
  return { jwt: reply.jwt, expiresAt: reply.expiresAt };
}
