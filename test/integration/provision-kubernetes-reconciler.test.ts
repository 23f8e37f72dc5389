import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiscoveryEntry } from "../../engine/contract/discovery.js";
import { loadKubeConfig } from "../../engine/provision/kube-api.js";
import { KubernetesProvisioner } from "../../engine/provision/kubernetes.js";
import { cli } from "../helpers/cli.js";
import { FakeKubeApi } from "../helpers/fake-kube-api.js";
import { validateKubernetesObject } from "../helpers/kube-schemas.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const dedicated = tenantYaml("ded", "  tier: dedicated\n  instances: { min: 2, max: 3 }\n");

describe("reconciler with the Kubernetes provisioner (fake API server)", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;

  beforeEach(async () => {
    api = await new FakeKubeApi().start();
    dir = mkdtempSync(join(tmpdir(), "vrsky-kube-"));
    kubeconfig = api.writeKubeconfig(dir);
    fx.defer(async () => {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    });
  });

  async function entry(): Promise<DiscoveryEntry | undefined> {
    const e = await (await bucket(fx.nc, "discovery")).get("ded");
    return e?.operation === "PUT" ? e.json<DiscoveryEntry>() : undefined;
  }

  it("publishes an instance in discovery once its pod is ready, and takes it out when it is lost", async () => {
    const provisioner = new KubernetesProvisioner({ access: loadKubeConfig(kubeconfig), namespace: "vrsky" });
    fx.defer(() => provisioner.close());
    fx.repo.write("tenants/ded.yaml", dedicated);
    const reconciler = await fx.reconciler({ sharedServers: [fx.url], provisioner, streams: false });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    const starting = await until(
      async () => (await entry())?.instances.length === 2 && entry(),
      10_000,
      "two instances",
    );
    expect(starting!.servers).to.deep.equal([]);
    expect(starting!.instances.map((i) => i.state)).to.deep.equal(["starting", "starting"]);
    // No commit, no resync (60 s): only the pod's readiness can bring this about.
    api.setReady("vrsky", "vrsky-nats-ded-1", true);
    const ready = await until(async () => ((await entry())?.servers.length === 1 ? entry() : false), 10_000, "ready");
    expect(ready!.servers).to.deep.equal(["nats://vrsky-nats-ded-1.vrsky-nats-ded.vrsky.svc:4222"]);
    expect(ready!.instances.map((i) => i.state)).to.deep.equal(["starting", "ready"]);
    api.setReady("vrsky", "vrsky-nats-ded-1", false);
    const lost = await until(async () => ((await entry())?.servers.length === 0 ? entry() : false), 10_000, "lost");
    expect(lost!.instances.map((i) => i.state)).to.deep.equal(["starting", "lost"]);
  });

  it("`vrsky reconcile --provisioner kubernetes` asks for a volume claim per instance with --storage-size and --storage-class", async () => {
    fx.repo.write("tenants/ded.yaml", dedicated);
    fx.repo.commit();
    const base = ["reconcile", "--repo", fx.repo.dir, "--nats", fx.url, "--once", "--no-streams"];
    const k8s = ["--provisioner", "kubernetes", "--kubeconfig", kubeconfig, "--namespace", "tenants"];
    const r = await cli(...base, ...k8s, "--storage-size", "5Gi", "--storage-class", "fast-ssd");
    expect(r.code, r.stderr).to.equal(0);
    const set = api.get("statefulsets", "tenants", "vrsky-nats-ded")!;
    validateKubernetesObject(set);
    const spec = set.spec as {
      replicas: number;
      volumeClaimTemplates: Array<{ spec: { storageClassName: string; resources: { requests: { storage: string } } } }>;
      template: { spec: { volumes: Array<{ name: string }> } };
    };
    expect(spec.replicas).to.equal(2);
    expect(spec.volumeClaimTemplates[0]!.spec).to.deep.include({ storageClassName: "fast-ssd" });
    expect(spec.volumeClaimTemplates[0]!.spec.resources.requests.storage).to.equal("5Gi");
    expect(spec.template.spec.volumes.map((v) => v.name)).to.not.include("data");
    expect(api.list("persistentvolumeclaims", "tenants").map((c) => c.metadata.name)).to.deep.equal([
      "data-vrsky-nats-ded-0",
      "data-vrsky-nats-ded-1",
    ]);
  });

  it("refuses bad provisioner flags before connecting, naming the flag", async () => {
    const base = ["reconcile", "--repo", fx.repo.dir, "--nats", fx.url, "--once"];
    const k8s = ["--provisioner", "kubernetes", "--kubeconfig", kubeconfig];
    const cases: Array<[string[], RegExp]> = [
      [[...k8s, "--storage-class", "fast"], /--storage-class needs --storage-size/],
      [[...k8s, "--storage-size", "lots"], /--storage-size 'lots' is not a storage quantity/],
      [["--provisioner", "local", "--storage-size", "5Gi"], /--storage-size applies to --provisioner kubernetes/],
      [["--provisioner", "kubernetes", "--kubeconfig", join(dir, "missing")], /kubeconfig .*missing: cannot read it/],
      [[...k8s, "--namespace", "Not_A_Namespace"], /--namespace 'Not_A_Namespace'/],
    ];
    for (const [flags, message] of cases) {
      const r = await cli(...base, ...flags);
      expect(r.code, flags.join(" ")).to.equal(2);
      expect(r.stderr)
        .to.match(message)
        .and.match(/VRS_USAGE/);
      expect(r.stderr).to.not.match(/\n\s+at /);
    }
    expect(api.requests, "nothing reached the API server").to.deep.equal([]);
  });
});
