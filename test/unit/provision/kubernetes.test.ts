import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import { KubernetesProvisioner, renderInstance, toYaml } from "../../../engine/provision/kubernetes.js";

const tenant = { tenant: "acme", config: 'operator: "eyJ0eXAi.x.y"\nsystem_account: "ADSYS"\nresolver: MEMORY\n' };

describe("Kubernetes provisioner (rendered objects; no cluster here)", () => {
  it("renders ConfigMap, PVC, Deployment, Service and NetworkPolicy for an instance", () => {
    const objs = renderInstance(tenant, 1, { namespace: "vrsky", storageSize: "10Gi" });
    expect(objs.map((o) => o.kind)).to.deep.equal([
      "ConfigMap",
      "PersistentVolumeClaim",
      "Deployment",
      "Service",
      "NetworkPolicy",
    ]);
    for (const o of objs) {
      expect(o.metadata).to.deep.include({ name: "vrsky-nats-acme-1", namespace: "vrsky" });
      expect((o.metadata as { labels: Record<string, string> }).labels).to.include({
        "vrsky.io/tenant": "acme",
        "vrsky.io/instance": "1",
      });
    }
    const cm = objs[0] as { data: Record<string, string> };
    expect(cm.data["nats.conf"])
      .to.contain("operator:")
      .and.contain("server_name: vrsky-nats-acme-1")
      .and.contain("jetstream");
    const dep = objs[2] as {
      spec: {
        template: { spec: { containers: Array<Record<string, unknown>>; volumes: Array<Record<string, unknown>> } };
      };
    };
    const c = dep.spec.template.spec.containers[0]!;
    expect(c.lifecycle).to.deep.equal({ preStop: { exec: { command: ["nats-server", "--signal", "ldm=1"] } } });
    expect(dep.spec.template.spec.volumes[1]).to.deep.equal({
      name: "data",
      persistentVolumeClaim: { claimName: "vrsky-nats-acme-1" },
    });
    const np = objs[4] as { spec: { policyTypes: string[]; ingress: Array<{ ports: unknown[] }> } };
    expect(np.spec.policyTypes).to.deep.equal(["Ingress"]);
    expect(np.spec.ingress[0]!.ports).to.deep.equal([{ protocol: "TCP", port: 4222 }]);
  });

  it("applies the objects of every wanted instance and deletes the surplus ones when scaling down", async () => {
    const calls: Array<{ args: string[]; kinds: string[] }> = [];
    const p = new KubernetesProvisioner({
      namespace: "vrsky",
      kubectl: async (args, input) => {
        calls.push({
          args,
          kinds: parseAllDocuments(input).map((d) => String((d.toJS() as { kind?: string } | null)?.kind)),
        });
      },
    });
    const three = await p.scale(tenant, 3);
    expect(three.map((i) => i.url)).to.deep.equal([0, 1, 2].map((i) => `nats://vrsky-nats-acme-${i}.vrsky.svc:4222`));
    expect(calls[0]!.args).to.deep.equal(["apply", "-f", "-"]);
    expect(calls[0]!.kinds.filter((k) => k === "Deployment")).to.have.length(3);
    calls.length = 0;
    await p.scale(tenant, 2);
    expect(calls.map((c) => c.args[0])).to.deep.equal(["apply", "delete"]);
    expect(calls[1]!.kinds).to.include("Deployment");
    expect(p.instances("acme")).to.have.length(2);
    expect(toYaml(renderInstance(tenant, 0, { namespace: "n" }))).to.match(/^apiVersion: v1\nkind: ConfigMap/);
  });
});
