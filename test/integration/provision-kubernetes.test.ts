import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVrskyError } from "../../engine/errors/errors.js";
import { renderTenant } from "../../engine/provision/kubernetes-objects.js";
import { loadKubeConfig } from "../../engine/provision/kube-api.js";
import { KubernetesProvisioner } from "../../engine/provision/kubernetes.js";
import type { Instance } from "../../engine/provision/provisioner.js";
import { FakeKubeApi } from "../helpers/fake-kube-api.js";
import { validateKubernetesObject } from "../helpers/kube-schemas.js";
import { until } from "../helpers/until.js";
import { packageRoot } from "../../engine/util/package-root.js";
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const tenant = { tenant: "acme", config: 'operator: "eyJ0eXAi.x.y"\nresolver: MEMORY\n' };
const storage = { size: "5Gi", className: "fast-ssd" };

describe("Kubernetes provisioner against a recording fake API server", function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;
  const made: KubernetesProvisioner[] = [];

  /** A provisioner (a reconciler's) configured through the kubeconfig file the test wrote. */
  function provisioner(): KubernetesProvisioner {
    const p = new KubernetesProvisioner({ access: loadKubeConfig(kubeconfig), namespace: "vrsky", storage });
    made.push(p);
    return p;
  }

  /** The next state change reported for `id` that satisfies `pred`. */
  function change(p: KubernetesProvisioner, id: string, state: Instance["state"]): Promise<Instance> {
    return new Promise((resolve) => p.onChange((i) => i.id === id && i.state === state && resolve(i)));
  }

  beforeEach(async () => {
    api = await new FakeKubeApi().start();
    dir = mkdtempSync(join(tmpdir(), "vrsky-kube-"));
    kubeconfig = api.writeKubeconfig(dir);
  });
  afterEach(async () => {
    for (const p of made.splice(0)) await p.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("applies each object with server-side apply (field manager vrsky), authenticated from the kubeconfig", async () => {
    const list = await provisioner().scale(tenant, 2);
    expect(list.map((i) => [i.id, i.state, i.url])).to.deep.equal([
      ["acme-0", "starting", "nats://vrsky-nats-acme-0.vrsky-nats-acme.vrsky.svc:4222"],
      ["acme-1", "starting", "nats://vrsky-nats-acme-1.vrsky-nats-acme.vrsky.svc:4222"],
    ]);
    const patches = api.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((r) => r.body!.kind)).to.deep.equal(["ConfigMap", "Service", "NetworkPolicy", "StatefulSet"]);
    for (const r of patches) {
      expect(r.contentType).to.equal("application/apply-patch+yaml");
      expect(r.query).to.include({ fieldManager: "vrsky", force: "true" });
    }
    for (const r of api.requests) expect(r.authorization, r.path).to.equal("Bearer fake-token");
    // What reached the server is what was rendered (nothing dropped on the way) and fits the schemas.
    expect(patches.map((r) => r.body)).to.deep.equal(renderTenant(tenant, 2, { namespace: "vrsky", storage }));
    for (const r of patches) validateKubernetesObject(r.body!);
    expect(api.list("pods", "vrsky").map((p) => p.metadata.name)).to.deep.equal([
      "vrsky-nats-acme-0",
      "vrsky-nats-acme-1",
    ]);
  });

  it("reads readiness from the pods: an instance becomes ready, and is lost when its pod stops being ready", async () => {
    const p = provisioner();
    expect((await p.scale(tenant, 2)).map((i) => i.state)).to.deep.equal(["starting", "starting"]);
    const ready = change(p, "acme-0", "ready");
    api.setReady("vrsky", "vrsky-nats-acme-0", true);
    expect((await ready).index).to.equal(0);
    expect((await p.scale(tenant, 2)).map((i) => i.state)).to.deep.equal(["ready", "starting"]);
    expect(p.instances("acme").map((i) => i.state)).to.deep.equal(["ready", "starting"]);
    const lost = change(p, "acme-0", "lost");
    api.setReady("vrsky", "vrsky-nats-acme-0", false);
    await lost;
    // The server ends the watch (its timeout): the provisioner watches on from where it was.
    const watches = () => api.requests.filter((r) => r.query.watch === "true").length;
    const before = watches();
    api.endWatches();
    await until(() => watches() > before, 5_000, "a new watch");
    const back = change(p, "acme-0", "ready");
    api.setReady("vrsky", "vrsky-nats-acme-0", true);
    await back;
    // A watch refused with 410 Gone: the provisioner lists again, and sees what changed meanwhile.
    api.goneWatches = 1;
    api.endWatches();
    const lostAgain = change(p, "acme-0", "lost");
    await until(() => api.goneWatches === 0, 5_000, "the refused watch");
    api.setReady("vrsky", "vrsky-nats-acme-0", false);
    await lostAgain;
  });

  it("after a restart, scales down what an earlier reconciler made, and removes it all by its labels", async () => {
    const first = provisioner();
    await first.scale(tenant, 3);
    await first.scale({ tenant: "other", config: "" }, 1);
    await first.close();
    const second = provisioner();
    expect(await second.scale(tenant, 1)).to.have.length(1);
    const set = api.get("statefulsets", "vrsky", "vrsky-nats-acme")!;
    expect((set.spec as { replicas: number }).replicas).to.equal(1);
    expect(api.list("pods", "vrsky").map((p) => p.metadata.name)).to.deep.equal([
      "vrsky-nats-acme-0",
      "vrsky-nats-other-0",
    ]);
    await second.close();
    await provisioner().remove("acme");
    const left = [
      "statefulsets",
      "services",
      "configmaps",
      "networkpolicies",
      "persistentvolumeclaims",
      "pods",
    ].flatMap((r) => api.list(r, "vrsky").map((o) => `${o.kind}/${o.metadata.name}`));
    expect(
      left.filter((n) => n.includes("acme")),
      "nothing of acme is left",
    ).to.deep.equal([]);
    expect(left).to.include.members(["StatefulSet/vrsky-nats-other", "PersistentVolumeClaim/data-vrsky-nats-other-0"]);
    const deletes = api.requests.filter((r) => r.method === "DELETE");
    expect(deletes.map((r) => r.path.split("/").slice(-2)[0])).to.deep.equal([
      "statefulsets",
      "services",
      "configmaps",
      "networkpolicies",
      "persistentvolumeclaims",
      "persistentvolumeclaims",
      "persistentvolumeclaims",
    ]);
  });

  it("re-applies on a new configuration (its pods restart) and leaves an unchanged tenant alone", async () => {
    const p = provisioner();
    await p.scale(tenant, 1);
    const uid = api.get("pods", "vrsky", "vrsky-nats-acme-0")!.metadata.uid;
    const from = api.requests.length;
    await p.scale(tenant, 1);
    expect(api.applied(from), "unchanged: no apply").to.deep.equal([]);
    await p.scale({ ...tenant, config: `${tenant.config}max_connections: 100\n` }, 1);
    expect(api.applied(from).map((o) => o.kind)).to.deep.equal([
      "ConfigMap",
      "Service",
      "NetworkPolicy",
      "StatefulSet",
    ]);
    expect(api.get("pods", "vrsky", "vrsky-nats-acme-0")!.metadata.uid, "a new pod").to.not.equal(uid);
    // A StatefulSet deleted by hand is put back by the next scale, though nothing changed in git.
    await provisioner().remove("acme");
    const again = api.requests.length;
    await p.scale({ ...tenant, config: `${tenant.config}max_connections: 100\n` }, 1);
    expect(api.applied(again).map((o) => o.kind)).to.include("StatefulSet");
  });

  it("names long tenants' objects within Kubernetes' limits", async () => {
    const long = `t${"x".repeat(62)}`;
    const [i] = await provisioner().scale({ tenant: long, config: "" }, 1);
    for (const o of api.applied()) expect(o.metadata.name.length, o.kind).to.be.at.most(52);
    const pod = api.list("pods", "vrsky")[0]!;
    expect(pod.metadata.labels!["vrsky.io/tenant"]).to.equal(long);
    expect(new URL(i!.url).hostname.startsWith(`${pod.metadata.name}.`)).to.equal(true);
  });

  it("fails with VRS_PROVISION_FAILED naming the call and the refusal (RBAC), and when the server is away", async () => {
    api.refuse = 403;
    const refused = await provisioner()
      .scale(tenant, 1)
      .catch((e: unknown) => e);
    expect(isVrskyError(refused) && refused.code).to.equal("VRS_PROVISION_FAILED");
    expect((refused as Error).message).to.match(/list the tenant instances' pods .*HTTP 403.*RBAC/);
    api.refuse = undefined;
    await api.stop();
    const away = await provisioner()
      .scale(tenant, 1)
      .catch((e: unknown) => e);
    expect(isVrskyError(away) && away.code).to.equal("VRS_PROVISION_FAILED");
    expect((away as Error).message).to.contain(api.url);
  });

  it("needs exactly the RBAC docs/operations.md lists", async () => {
    const p = provisioner();
    await p.scale(tenant, 2);
    await p.scale(tenant, 2);
    await p.scale({ ...tenant, config: "changed: 1\n" }, 1);
    await p.remove("acme");
    await until(() => api.requests.some((r) => r.query.watch === "true"), 5_000, "the pods' watch");
    const used = new Set<string>();
    for (const r of api.requests) {
      const [, resource, name] = r.path.match(/\/namespaces\/[^/]+\/([a-z]+)(?:\/(.+))?$/) ?? [];
      if (!resource) continue;
      const verbs =
        r.method === "PATCH"
          ? ["patch", ...(r.created ? ["create"] : [])]
          : r.method === "DELETE"
            ? ["delete"]
            : [r.query.watch === "true" ? "watch" : name ? "get" : "list"];
      for (const v of verbs) used.add(`${resource} ${v}`);
    }
    const doc = readFileSync(join(packageRoot(), "docs/operations.md"), "utf8");
    const table = doc.slice(doc.indexOf("| API group | Resources | Verbs |"));
    const listed = new Set<string>();
    for (const row of table.split("\n").slice(2)) {
      if (!row.startsWith("|")) break;
      const [, , resources, verbs] = row.split("|");
      for (const res of resources!.matchAll(/`([a-z]+)`/g))
        for (const v of verbs!.matchAll(/`([a-z]+)`/g)) listed.add(`${res[1]} ${v[1]}`);
    }
    expect([...used].sort()).to.deep.equal([...listed].sort());
  });

  it("reads kubeconfigs with inline certificates or a token file, and refuses what it cannot use", () => {
    const file = join(dir, "kc");
    const write = (
      user: string,
      cluster = `    server: https://k8s.example:6443/\n    certificate-authority-data: ${b64("CA")}`,
    ) =>
      writeFileSync(
        file,
        `clusters:\n- name: c\n  cluster:\n${cluster}\nusers:\n- name: u\n  user:\n${user}\n` +
          "contexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n",
      );
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    write(`    client-certificate-data: ${b64("CERT")}\n    client-key-data: ${b64("KEY")}`);
    const certs = loadKubeConfig(file);
    expect(certs.server).to.equal("https://k8s.example:6443");
    expect(certs.tls).to.deep.equal({ ca: "CA", cert: "CERT", key: "KEY", rejectUnauthorized: true });
    expect(certs.token).to.equal(undefined);
    writeFileSync(join(dir, "token"), "rotated-1\n");
    write(`    tokenFile: ${join(dir, "token")}`);
    const byFile = loadKubeConfig(file);
    expect(byFile.token!()).to.equal("rotated-1");
    writeFileSync(join(dir, "token"), "rotated-2\n");
    expect(byFile.token!(), "read again for each request").to.equal("rotated-2");
    write("    exec: { command: aws, apiVersion: client.authentication.k8s.io/v1 }");
    expect(() => loadKubeConfig(file)).to.throw(
      /plugin, which VRSky does not run: use a token or a client certificate/,
    );
    writeFileSync(file, "clusters: []\n");
    expect(() => loadKubeConfig(file)).to.throw(/no current-context/);
  });

  it("speaks HTTPS, trusting the kubeconfig's certificate authority only", async () => {
    const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    const secure = await new FakeKubeApi().start({ key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") });
    try {
      const trusted = new KubernetesProvisioner({
        access: loadKubeConfig(secure.writeKubeconfig(dir, cert)),
        namespace: "vrsky",
      });
      made.push(trusted);
      expect(await trusted.scale(tenant, 1)).to.have.length(1);
      expect(secure.requests.filter((r) => r.method === "PATCH")).to.have.length(4);
      const untrusted = new KubernetesProvisioner({
        access: loadKubeConfig(secure.writeKubeconfig(dir)),
        namespace: "vrsky",
      });
      made.push(untrusted);
      const e = await untrusted.scale(tenant, 1).catch((x: unknown) => x);
      expect(isVrskyError(e) && e.code).to.equal("VRS_PROVISION_FAILED");
      expect((e as Error).message).to.match(/certificate/i);
    } finally {
      for (const p of made.splice(0)) await p.close();
      await secure.stop();
    }
  });
});
