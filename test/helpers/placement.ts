/**
 * Helpers for tests of the leader's placement controller on a real nats-server: the controller started over the
 * applied records (stopped after the test), and a shared tenant's discovery entry.
 */
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "../../engine/contract/discovery.js";
import { subjectPrefixOf } from "../../engine/contract/subjects.js";
import {
  AssignmentController,
  type AssignmentControllerOptions,
} from "../../engine/reconciler/placement/controller.js";
import { ObservedBucket } from "../../engine/state/observed.js";
import type { StateBuckets } from "../../engine/state/open.js";
import type { NatsFixture } from "./nats.js";

/** A leading placement controller over the applied tenants and integrations, started; stopped after the test. */
export async function startedLeader(
  fx: NatsFixture,
  state: StateBuckets,
  extra: Partial<AssignmentControllerOptions> = {},
): Promise<AssignmentController> {
  const tenants = new ObservedBucket(state.tenants);
  const integrations = new ObservedBucket(state.integrations);
  await Promise.all([tenants.start(), integrations.start()]);
  const c = new AssignmentController({ state, tenants, integrations, isLeader: () => true, id: "rec", ...extra });
  await c.start();
  fx.defer(async () => {
    c.stop();
    await c.idle();
    tenants.stop();
    integrations.stop();
  });
  return c;
}

/** The discovery entry of a shared tenant on `servers`, as the tenancy step writes it (JSON). */
export function sharedDiscoveryJson(tenant: string, servers: string[]): string {
  const e: DiscoveryEntry = {
    format: DISCOVERY_FORMAT,
    tenant,
    tier: "shared",
    suspended: false,
    accountPublicKey: "",
    subjectPrefix: subjectPrefixOf(tenant),
    servers,
    instances: [],
    revision: "rev-1",
    updatedAt: new Date().toISOString(),
  };
  return JSON.stringify(e);
}
