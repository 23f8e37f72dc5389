/**
 * Secret providers: where the value behind a manifest's `secretRef` comes from (docs/operations.md "Secrets").
 * A secret belongs to one tenant and is looked up by the tenant's name and its own; both are DNS labels, so a
 * reference can never name a path (`..`, `/`, an absolute path) and one tenant can never reach another's secrets.
 */
import { isTenantName } from "../accounts/keys.js";
import { VrskyError } from "../errors/errors.js";
import type { SecretValue } from "./value.js";

export interface SecretProvider {
  /** The secret's value; `VRS_SECRET_MISSING` when the tenant has no secret of that name. */
  resolve(tenant: string, name: string): Promise<SecretValue>;
  /** Whether the tenant has a secret of that name (without decrypting it). */
  has(tenant: string, name: string): Promise<boolean>;
}

/** Refuses a tenant or secret name that is not a DNS label (`VRS_NAME_INVALID`) before any file is touched. */
export function checkSecretRef(tenant: string, name: string): void {
  if (!isTenantName(tenant))
    throw new VrskyError("VRS_NAME_INVALID", `invalid tenant name ${JSON.stringify(tenant)} in a secret reference`);
  if (!isTenantName(name)) throw new VrskyError("VRS_NAME_INVALID", `invalid secret name ${JSON.stringify(name)}`);
}

export function secretMissing(tenant: string, name: string, where: string): VrskyError {
  return new VrskyError("VRS_SECRET_MISSING", `tenant ${tenant} has no secret '${name}' (${where})`);
}
