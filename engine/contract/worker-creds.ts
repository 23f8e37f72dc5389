/** The worker-credentials request (subject CREDS_SUBJECT): a worker asks a reconciler for a user in a tenant's account. */
import { subjectPrefixOf } from "./subjects.js";

export interface WorkerCredsRequest {
  worker: string;
  session: string;
  tenant: string;
  userPublicKey: string;
}

export type WorkerCredsReply =
  | { ok: true; jwt: string; accountPublicKey: string; expiresAt: string }
  | { ok: false; error: string; retryable: boolean };

/** What a tenant's worker user may do: its own subjects, JetStream's API, and replies. */
export function workerPermissions(tenant: string): { allowPub: string[]; allowSub: string[] } {
  const prefix = subjectPrefixOf(tenant);
  return {
    allowPub: [`${prefix}.>`, "$JS.API.>", "$JS.ACK.>", "_INBOX.>"],
    allowSub: [`${prefix}.>`, "_INBOX.>"],
  };
}
