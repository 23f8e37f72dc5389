import { loadDesired } from "../../../engine/manifests/load.js";
import type { Resource } from "../../../engine/model/resources.js";

// The plan tests' names for the shared resource builders.
export { integrationResource as integration, tenantResource as tenant } from "../../helpers/manifests.js";

/** Validates manifests the way a revision is validated and returns the resources; throws on any finding. */
export function resourcesOf(files: Record<string, string>): Resource[] {
  const state = loadDesired(
    Object.entries(files).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) })),
  );
  if (state.findings.length > 0) throw new Error(`unexpected findings: ${JSON.stringify(state.findings)}`);
  return state.resources;
}
