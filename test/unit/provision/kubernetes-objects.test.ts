import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  APPLIED_HASH_ANNOTATION,
  CLIENT_COMPONENTS,
  CONFIG_HASH_ANNOTATION,
  instanceSetName,
  instanceUrl,
  LAME_DUCK,
  renderTenant,
  TERMINATION_GRACE_SECONDS,
  type KubeObject,
  type RenderOptions,
} from "../../../engine/provision/kubernetes-objects.js";
import { packageRoot } from "../../../engine/util/package-root.js";
import { validateKubernetesObject } from "../../helpers/kube-schemas.js";

const tenant = { tenant: "acme", config: 'operator: "eyJ0eXAi.x.y"\nsystem_account: "ADSYS"\nresolver: MEMORY\n' };
const withStorage: RenderOptions = { namespace: "vrsky", storage: { size: "10Gi", className: "fast-ssd" } };
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

type PodSpec = {
  terminationGracePeriodSeconds: number;
  securityContext: Record<string, unknown>;
  containers: Array<Record<string, unknown> & { securityContext: Record<string, unknown> }>;
  volumes: Array<Record<string, unknown>>;
};
type SetSpec = {
  replicas: number;
  template: { metadata: { annotations: Record<string, string> }; spec: PodSpec };
  volumeClaimTemplates?: Array<{ spec: { storageClassName?: string; resources: { requests: { storage: string } } } }>;
};
const setOf = (objs: KubeObject[]) => objs.find((o) => o.kind === "StatefulSet")!;
const podOf = (objs: KubeObject[]) => (setOf(objs).spec as SetSpec).template.spec;
const configOf = (objs: KubeObject[]) =>
  (objs.find((o) => o.kind === "ConfigMap")!.data as Record<string, string>)["nats.conf"]!;

describe("Kubernetes provisioner: rendered objects", () => {
  it("validates every object against the Kubernetes schemas, with and without volume claims", () => {
    for (const o of [{ namespace: "vrsky" }, withStorage]) {
      const objs = renderTenant(tenant, 3, o);
      expect(objs.map((x) => x.kind)).to.deep.equal(["ConfigMap", "Service", "NetworkPolicy", "StatefulSet"]);
      for (const x of objs) expect(() => validateKubernetesObject(x), x.kind).to.not.throw();
    }
    // The check can fail: a wrong type is refused.
    const bad = setOf(renderTenant(tenant, 1, withStorage));
    expect(() => validateKubernetesObject({ ...bad, spec: { ...(bad.spec as object), replicas: "one" } })).to.throw(
      /replicas/,
    );
  });

  it("passes the `restricted` Pod Security profile, field by field", () => {
    for (const o of [{ namespace: "vrsky" }, withStorage]) {
      const pod = podOf(renderTenant(tenant, 1, o));
      expect(pod.securityContext.runAsNonRoot).to.equal(true);
      expect(pod.securityContext.runAsUser).to.be.a("number").and.not.equal(0);
      expect(pod.securityContext.seccompProfile).to.deep.equal({ type: "RuntimeDefault" });
      expect(pod).to.not.have.any.keys("hostNetwork", "hostPID", "hostIPC");
      for (const c of pod.containers) {
        const sc = c.securityContext;
        expect(sc.allowPrivilegeEscalation, c.name as string).to.equal(false);
        expect(sc.capabilities).to.deep.equal({ drop: ["ALL"] });
        expect(sc.runAsNonRoot).to.equal(true);
        expect(sc.readOnlyRootFilesystem).to.equal(true);
        expect(sc.seccompProfile).to.deep.equal({ type: "RuntimeDefault" });
        expect(sc).to.not.have.any.keys("privileged", "procMount");
        for (const p of c.ports as Array<Record<string, unknown>>) expect(p).to.not.have.key("hostPort");
      }
      // Only the volume types the profile allows.
      for (const v of pod.volumes) {
        const type = Object.keys(v).find((k) => k !== "name")!;
        expect(["configMap", "emptyDir", "persistentVolumeClaim", "secret", "projected", "downwardAPI"]).to.include(
          type,
        );
      }
    }
  });

  it("gives tenants of any length names that fit (DNS-1035, StatefulSet at most 52), stable and distinct", () => {
    const long = "a".repeat(63);
    const longToo = `${"a".repeat(62)}b`;
    const names = [long, longToo, "x".repeat(40), "x".repeat(41), "7digits-first"].map(instanceSetName);
    for (const n of names) {
      expect(n, n).to.match(DNS_1035);
      expect(n.length, n).to.be.at.most(52);
    }
    expect(new Set(names).size).to.equal(names.length);
    expect(instanceSetName(long)).to.equal(instanceSetName(long));
    expect(instanceSetName("acme")).to.equal("vrsky-nats-acme");
    const objs = renderTenant({ tenant: long, config: "" }, 3, withStorage);
    for (const o of objs) {
      expect(o.metadata.name.length).to.be.at.most(52);
      expect(o.metadata.labels["vrsky.io/tenant"]).to.equal(long);
      for (const v of Object.values(o.metadata.labels)) expect(v.length).to.be.at.most(63);
    }
    // Pod names (<set>-<index>) and the instance's DNS name under the headless Service are labels that fit.
    const host = new URL(instanceUrl(long, 2, "vrsky")).hostname.split(".");
    expect(host[0]!.length).to.be.at.most(63);
    expect(host.slice(1, 3)).to.deep.equal([instanceSetName(long), "vrsky"]);
  });

  it("asks for a volume claim per instance with the storage class and size given; emptyDir without", () => {
    const spec = setOf(renderTenant(tenant, 2, withStorage)).spec as SetSpec & Record<string, unknown>;
    expect(spec.volumeClaimTemplates).to.have.length(1);
    expect(spec.volumeClaimTemplates![0]!.spec.storageClassName).to.equal("fast-ssd");
    expect(spec.volumeClaimTemplates![0]!.spec.resources.requests.storage).to.equal("10Gi");
    expect(spec.template.spec.volumes.map((v) => v.name)).to.not.include("data");
    expect(spec.persistentVolumeClaimRetentionPolicy).to.deep.equal({ whenDeleted: "Delete", whenScaled: "Retain" });
    const bare = setOf(renderTenant(tenant, 2, { namespace: "vrsky" })).spec as SetSpec;
    expect(bare.volumeClaimTemplates).to.equal(undefined);
    expect(bare.template.spec.volumes.find((v) => v.name === "data")).to.deep.equal({ name: "data", emptyDir: {} });
  });

  it("puts a hash of the configuration on the pod template, so a new configuration restarts the pods", () => {
    const hashOf = (config: string) =>
      (setOf(renderTenant({ tenant: "acme", config }, 1, withStorage)).spec as SetSpec).template.metadata.annotations[
        CONFIG_HASH_ANNOTATION
      ];
    expect(hashOf("a: 1")).to.match(/^[0-9a-f]{64}$/);
    expect(hashOf("a: 1")).to.equal(hashOf("a: 1"));
    expect(hashOf("a: 2")).to.not.equal(hashOf("a: 1"));
    const applied = (count: number) =>
      setOf(renderTenant(tenant, count, withStorage)).metadata.annotations![APPLIED_HASH_ANNOTATION];
    expect(applied(2)).to.not.equal(applied(3));
  });

  it("stops pods in lame-duck mode within their grace period", () => {
    const objs = renderTenant(tenant, 1, withStorage);
    const pod = podOf(objs);
    const config = configOf(objs);
    expect(config).to.contain(`lame_duck_duration: "${LAME_DUCK.durationSeconds}s"`);
    expect(config).to.contain(`lame_duck_grace_period: "${LAME_DUCK.gracePeriodSeconds}s"`);
    expect(pod.terminationGracePeriodSeconds).to.equal(TERMINATION_GRACE_SECONDS);
    expect(TERMINATION_GRACE_SECONDS).to.be.greaterThan(LAME_DUCK.durationSeconds + LAME_DUCK.gracePeriodSeconds);
    const pidFile = config.match(/^pid_file: "(.+)"$/m)![1]!;
    const stop = pod.containers[0]!.lifecycle as { preStop: { exec: { command: string[] } } };
    expect(stop.preStop.exec.command).to.deep.equal(["nats-server", "--signal", `ldm=${pidFile}`]);
    expect(config).to.contain("server_name: $POD_NAME").and.contain("operator:").and.contain("jetstream");
  });

  it("admits exactly the client pods docs/operations.md names to tenant instances, on the client port", () => {
    const np = renderTenant(tenant, 1, withStorage).find((o) => o.kind === "NetworkPolicy")!;
    const ingress = (np.spec as { ingress: Array<{ from: unknown[]; ports: unknown[] }> }).ingress;
    expect(ingress).to.have.length(1);
    expect(ingress[0]!.ports).to.deep.equal([{ protocol: "TCP", port: 4222 }]);
    expect(ingress[0]!.from).to.deep.equal([
      {
        namespaceSelector: { matchLabels: { "app.kubernetes.io/part-of": "vrsky" } },
        podSelector: {
          matchLabels: { "app.kubernetes.io/part-of": "vrsky" },
          matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: [...CLIENT_COMPONENTS] }],
        },
      },
    ]);
    const doc = readFileSync(join(packageRoot(), "docs/operations.md"), "utf8");
    const row = (label: string) =>
      doc.match(new RegExp(`^\\| \`${label.replace(/\./g, "\\.")}\` \\| (.+?) \\|`, "m"))?.[1];
    expect(row("app.kubernetes.io/part-of"), "docs/operations.md's client labels table").to.equal("`vrsky`");
    const documented = [...(row("app.kubernetes.io/component") ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    expect(documented).to.deep.equal([...CLIENT_COMPONENTS]);
  });
});
