/** The subjects of the contract: the worker-credentials request (platform account) and a tenant's own subjects. */

/** Workers ask a reconciler for a user in a tenant's account here (engine/contract/worker-creds.ts). */
export const CREDS_SUBJECT = "vrsky.platform.creds.worker";
/** Every reconciler serves the request in this queue group, so a standby answers too. */
export const CREDS_QUEUE = "vrsky-creds";

/** Subjects of a tenant's integrations start with this, inside the tenant's account. */
export function subjectPrefixOf(tenant: string): string {
  return `vrsky.${tenant}`;
}

/** Subject (in the tenant's account) where a running replica answers who runs it: `<prefix>._replica.<integration>.<n>`. */
export function replicaInfoSubject(subjectPrefix: string, integration: string, replica: number): string {
  return `${subjectPrefix}._replica.${integration}.${replica}`;
}
