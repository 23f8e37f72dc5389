/** The worker-credentials request (subject CREDS_SUBJECT): a worker asks a reconciler for a user in a tenant's account. */

export interface WorkerCredsRequest {
  worker: string;
  session: string;
  tenant: string;
  userPublicKey: string;
  /** The JWT of the worker's own platform user (tagged `vrsky-worker:<worker>`); see accounts/worker-identity.ts. */
  identity?: string;
  /** base64url Ed25519 signature by that user's key over the request's fields (`signedText`). */
  sig?: string;
}

export type WorkerCredsReply =
  | { ok: true; jwt: string; accountPublicKey: string; expiresAt: string }
  | { ok: false; error: string; retryable: boolean };

/**
 * What a tenant's worker user may do: everything inside the tenant's account (never `$SYS`). The account is the
 * isolation boundary; inside it the worker reads the sources' subjects, writes the sinks' subjects, and uses the
 * JetStream, KV and object store APIs of the integrations' streams, whose subjects the tenant's manifests choose.
 */
export function workerPermissions(_tenant: string): { allowPub: string[]; allowSub: string[] } {
  return { allowPub: [">"], allowSub: [">"] };
}
