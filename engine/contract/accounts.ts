export const ACCOUNT_FORMAT = "vrsky.io/account/v1";

/** What the reconciler remembers of a pushed account (bucket `vrsky-accounts`): public data only. */
export interface AccountRecord {
  format: typeof ACCOUNT_FORMAT;
  tenant: string;
  accountPublicKey: string;
  generation: number;
  /** Issue time of the pushed JWT: with the same claims it reproduces the same JWT, byte for byte. */
  iat: number;
  /** Canonical JSON of what the JWT says (key, limits, revocations): a change means a re-push. */
  claims: string;
  pushedAt: string;
}
