import { expect } from "chai";
import type { KV } from "@nats-io/kv";
import type { Provisioner } from "../../engine/provision/provisioner.js";
import { TenantRuntime } from "../../engine/reconciler/tenant-runtime.js";
import { openState } from "../../engine/state/open.js";
import { tenantResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";

/**
 * The tenancy step sends each tenant's discovery entry as soon as it is made, and a dedicated tenant's entry is
 * made only once its instances started. A write that failed meanwhile (CI: "no responders" from a cluster whose
 * discovery stream had no leader yet) was a rejection nobody handled until the loop ended, and Node ended the
 * reconciler with exit 1 (`npm run cluster`: "reconciler r2 exited (1) while waiting for the first reconcile").
 */
describe("tenancy: a discovery write that fails while another tenant's instances start", function () {
  this.timeout(20_000);
  const fx = useNats();

  it("fails the run with the write's error, and leaves no rejection unhandled", async () => {
    const state = await openState(fx.nc);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    fx.defer(() => process.off("unhandledRejection", onUnhandled));

    let putFailed!: () => void;
    const failed = new Promise<void>((r) => (putFailed = r));
    const discovery = Object.create(state.discovery) as KV;
    discovery.put = () =>
      new Promise((_, reject) =>
        setImmediate(() => {
          reject(new Error("no responders: '$KV.vrsky-discovery.a'"));
          putFailed();
        }),
      );
    let startInstances!: () => void;
    const started = new Promise<void>((r) => (startInstances = r));
    const provisioner: Provisioner = {
      kind: "local",
      scale: async () => {
        await started;
        return [];
      },
      instances: () => [],
      remove: async () => undefined,
      onChange: () => undefined,
      close: async () => undefined,
    };
    const runtime = new TenantRuntime({ discovery, inventory: state.inventory, sharedServers: [fx.url], provisioner });

    const run = runtime.sync([tenantResource("a"), tenantResource("b", { tier: "dedicated" })], "rev1", false);
    const outcome = run.then(
      () => "done",
      (e: unknown) => String(e),
    );
    // Shared `a`'s write fails while dedicated `b`'s instances are still starting; Node's check for unhandled
    // rejections runs once the turn's microtasks are done.
    await failed;
    await new Promise((r) => setImmediate(r));
    startInstances();
    expect(await outcome).to.match(/no responders/);
    expect(unhandled.map(String)).to.deep.equal([]);
  });
});
