export const REVOCATION_FORMAT = "vrsky.io/revocation/v1";

/** A revoked tenant user (bucket `vrsky-revocations`, key `<tenant>.<user public key>`), written by `vrsky revoke`. */
export interface RevocationRecord {
  /** Absent in a revocation written before records carried a format: readers take that as v1 (AsRead in records.ts). */
  format: typeof REVOCATION_FORMAT;
  tenant: string;
  userPublicKey: string;
  /** Unix seconds: user JWTs issued at or before this time are refused. */
  revokedAt: number;
  reason?: string;
}
