import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { renderTenant } from "../../../engine/provision/kubernetes-objects.js";
import { packageRoot } from "../../../engine/util/package-root.js";
import { commandLineProblems } from "../../helpers/cli-flags.js";
import {
  describeObject,
  find,
  KUBERNETES_DIR,
  kustomize,
  validateObject,
  workloads,
  type Container,
  type K8sObject,
  type PodSpec,
} from "../../helpers/kustomize.js";

/** The volume types the Pod Security `restricted` profile allows. */
const RESTRICTED_VOLUMES = [
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
];
/** The containers that run `vrsky`, by the command they run. */
const VRSKY_COMMANDS: Record<string, string> = {
  reconciler: "reconcile",
  worker: "worker",
  gateway: "gateway",
  api: "api",
};

for (const dir of ["base", "overlays/production"]) {
  describe(`deploy/kubernetes/${dir}: rendered with kubectl kustomize, every object valid and locked down`, function () {
    this.timeout(60_000);
    let objects: K8sObject[];

    before(async () => {
      objects = await kustomize(dir);
    });

    it("renders every component: NATS, reconcilers, workers with an autoscaler, gateway and API with Services", () => {
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      for (const n of [
        "StatefulSet/nats",
        "Service/nats-headless",
        "Deployment/vrsky-reconciler",
        "Deployment/vrsky-worker",
        "HorizontalPodAutoscaler/vrsky-worker",
        "Deployment/vrsky-gateway",
        "Service/vrsky-gateway",
        "Deployment/vrsky-api",
        "Service/vrsky-api",
        "Role/vrsky-provisioner",
        "RoleBinding/vrsky-provisioner",
      ])
        expect(names, n).to.include(n);
    });

    it("every object matches its Kubernetes schema (kubernetes-models)", () => {
      expect(objects.length).to.be.greaterThan(20);
      for (const o of objects) validateObject(o);
    });

    it("both namespaces enforce the Pod Security restricted profile", () => {
      for (const ns of ["vrsky", "vrsky-tenants"]) {
        const labels = find(objects, "Namespace", ns, null).metadata.labels ?? {};
        expect(labels["pod-security.kubernetes.io/enforce"], ns).to.equal("restricted");
      }
      for (const o of objects.filter((x) => x.kind !== "Namespace"))
        expect(o.metadata.namespace, describeObject(o)).to.be.oneOf(["vrsky", "vrsky-tenants"]);
    });

    it("every pod template meets the restricted profile: non-root, seccomp, no escalation, no capabilities, read-only root", () => {
      for (const { o, spec } of workloads(objects)) {
        const pod = spec.template.spec;
        const what = describeObject(o);
        expect(pod.securityContext?.runAsNonRoot, `${what} runAsNonRoot`).to.equal(true);
        expect(pod.securityContext?.runAsUser, `${what} runAsUser`).to.be.a("number").greaterThan(0);
        expect(pod.securityContext?.seccompProfile?.type, `${what} seccompProfile`).to.equal("RuntimeDefault");
        expect(pod.hostNetwork ?? false, what).to.equal(false);
        expect(pod.hostPID ?? false, what).to.equal(false);
        expect(pod.hostIPC ?? false, what).to.equal(false);
        for (const v of pod.volumes ?? []) {
          const type = Object.keys(v).find((k) => k !== "name")!;
          expect(RESTRICTED_VOLUMES, `${what} volume ${v.name}`).to.include(type);
        }
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          const sc = c.securityContext ?? {};
          const at = `${what} container ${c.name}`;
          expect(sc.allowPrivilegeEscalation, `${at} allowPrivilegeEscalation`).to.equal(false);
          expect(sc.readOnlyRootFilesystem, `${at} readOnlyRootFilesystem`).to.equal(true);
          expect(sc.privileged ?? false, at).to.equal(false);
          expect(sc.capabilities?.drop, `${at} capabilities.drop`).to.include("ALL");
          expect(sc.capabilities?.add ?? [], `${at} capabilities.add`).to.deep.equal([]);
          if (sc.runAsUser !== undefined) expect(sc.runAsUser, at).to.be.greaterThan(0);
        }
      }
    });

    it("every container has liveness and readiness probes, resource requests and a memory limit", () => {
      for (const { o, spec } of workloads(objects)) {
        for (const c of spec.template.spec.containers) {
          const at = `${describeObject(o)} container ${c.name}`;
          expect(c.livenessProbe?.httpGet, `${at} livenessProbe`).to.be.an("object");
          expect(c.readinessProbe?.httpGet, `${at} readinessProbe`).to.be.an("object");
          expect(c.resources?.requests?.cpu, `${at} requests.cpu`).to.be.a("string");
          expect(c.resources?.requests?.memory, `${at} requests.memory`).to.be.a("string");
          expect(c.resources?.limits?.memory, `${at} limits.memory`).to.be.a("string");
          for (const p of [c.livenessProbe, c.readinessProbe, c.startupProbe].filter((x) => x !== undefined)) {
            const port = p.httpGet!.port;
            const known = (c.ports ?? []).some((cp) => cp.name === port || cp.containerPort === port);
            expect(known, `${at}: probe port ${port} is one of its ports`).to.equal(true);
          }
        }
      }
    });

    it("VRSky containers run real vrsky commands and flags, on writable emptyDir /tmp, and probe the port they listen on", async () => {
      const seen = new Set<string>();
      for (const { o, spec } of workloads(objects)) {
        for (const c of spec.template.spec.containers) {
          const command = VRSKY_COMMANDS[c.name];
          if (!command) continue;
          seen.add(c.name);
          const at = `${describeObject(o)} container ${c.name}`;
          expect(c.command, `${at}: the image's entrypoint runs vrsky`).to.equal(undefined);
          expect(c.args?.[0], at).to.equal(command);
          const env = (c.env ?? []).map((e) => e.name);
          expect(await commandLineProblems(c.args!, env), at).to.deep.equal([]);
          for (const m of c.args!.join(" ").matchAll(/\$\((\w+)\)/g))
            expect(env, `${at}: $(${m[1]}) is defined`).to.include(m[1]);
          expectTmpOnEmptyDir(c, spec.template.spec, at);
          const listen = Number(/:(\d+)$/.exec(argValue(c, "--listen") ?? "")?.[1]);
          const readiness = c.readinessProbe!.httpGet!;
          const probed = c.ports?.find((p) => p.name === readiness.port || p.containerPort === readiness.port);
          expect(probed?.containerPort, `${at}: readiness probes the --listen port`).to.equal(listen);
          expect(readiness.path, at).to.equal("/readyz");
        }
      }
      expect([...seen].sort()).to.deep.equal(["api", "gateway", "reconciler", "worker"]);
    });

    it("workers carry the labels the provisioner's NetworkPolicy admits, and the autoscaler owns their count", () => {
      const worker = find(objects, "Deployment", "vrsky-worker");
      const { spec } = workloads([worker])[0]!;
      expect(spec.template.metadata.labels).to.include({
        "app.kubernetes.io/name": "vrsky-worker",
        "app.kubernetes.io/component": "worker",
      });
      expect(spec.replicas, "no replicas field fighting the autoscaler").to.equal(undefined);
      const hpa = find(objects, "HorizontalPodAutoscaler", "vrsky-worker").spec as {
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
      };
      expect(hpa.scaleTargetRef).to.include({ kind: "Deployment", name: "vrsky-worker" });
      expect(hpa.minReplicas).to.be.at.least(2);
      const drain = Number(/^(\d+)s$/.exec(argValue(spec.template.spec.containers[0]!, "--drain-timeout")!)?.[1]);
      expect(spec.template.spec.terminationGracePeriodSeconds).to.be.greaterThan(drain);
    });

    it("the pods that connect to tenant instances are admitted by the NetworkPolicy the provisioner renders", () => {
      const rendered = renderTenant({ tenant: "acme", config: "" }, 1, { namespace: "vrsky-tenants" });
      const policy = rendered.find((o) => o.kind === "NetworkPolicy")!.spec as {
        ingress: Array<{ from: Array<{ namespaceSelector: Selector; podSelector: Selector }> }>;
      };
      const [peer] = policy.ingress[0]!.from;
      for (const component of ["worker", "reconciler", "gateway", "api"]) {
        const { o, spec } = workloads([find(objects, "Deployment", `vrsky-${component}`)])[0]!;
        const ns = find(objects, "Namespace", o.metadata.namespace!, null);
        expect(matches(peer!.namespaceSelector, ns.metadata.labels), `namespace of ${component}`).to.equal(true);
        expect(matches(peer!.podSelector, spec.template.metadata.labels), `pods of ${component}`).to.equal(true);
      }
    });

    it("the reconcilers: at least two, with RBAC for the provisioner in the namespace its --namespace names", () => {
      const rec = workloads([find(objects, "Deployment", "vrsky-reconciler")])[0]!.spec;
      expect(rec.replicas).to.be.at.least(2);
      const c = rec.template.spec.containers[0]!;
      expect(argValue(c, "--provisioner")).to.equal("kubernetes");
      const ns = argValue(c, "--namespace")!;
      const binding = find(objects, "RoleBinding", "vrsky-provisioner", ns) as K8sObject & {
        roleRef: { name: string };
        subjects: Array<{ kind: string; name: string; namespace: string }>;
      };
      expect(binding.subjects).to.deep.include({
        kind: "ServiceAccount",
        name: rec.template.spec.serviceAccountName,
        namespace: "vrsky",
      });
      const role = find(objects, "Role", binding.roleRef.name, ns) as K8sObject & {
        rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
      };
      const can = (group: string, resource: string, verb: string) =>
        role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
      for (const [group, resource] of [
        ["apps", "deployments"],
        ["apps", "statefulsets"],
        ["", "services"],
        ["", "configmaps"],
        ["", "persistentvolumeclaims"],
        ["networking.k8s.io", "networkpolicies"],
      ] as const)
        for (const verb of ["get", "list", "watch", "create", "patch", "delete"])
          expect(can(group, resource, verb), `${verb} ${group}/${resource}`).to.equal(true);
      expect(can("", "secrets", "get"), "no access to Secrets").to.equal(false);
      expect(objects.some((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding")).to.equal(false);
    });

    it("network policies: default deny in both namespaces, and every workload selected by a policy of its own", () => {
      const policies = objects.filter((o) => o.kind === "NetworkPolicy");
      for (const ns of ["vrsky", "vrsky-tenants"]) {
        const deny = find(policies, "NetworkPolicy", "default-deny", ns).spec as {
          podSelector: object;
          policyTypes: string[];
        };
        expect(deny).to.deep.equal({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
      }
      for (const { o, spec } of workloads(objects)) {
        const labels = spec.template.metadata.labels;
        const own = policies.filter((p) => {
          const sel = (p.spec as { podSelector: { matchLabels?: Record<string, string> } }).podSelector.matchLabels;
          return sel !== undefined && Object.entries(sel).every(([k, v]) => labels[k] === v);
        });
        expect(own, describeObject(o)).to.have.length.greaterThan(0);
      }
    });

    it("no Secret is committed: Secrets the pods use exist only as references, each documented with its command", () => {
      expect(objects.filter((o) => o.kind === "Secret").map(describeObject)).to.deep.equal([]);
      const rendered = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
      const ops = readFileSync(join(packageRoot(), "docs", "operations.md"), "utf8");
      for (const { o, spec } of workloads(objects)) {
        for (const ref of references(spec.template.spec)) {
          if (rendered.has(`${ref.kind}/${ref.name}`)) continue;
          const how = ref.kind === "Secret" ? `create secret generic ${ref.name}` : `create configmap ${ref.name}`;
          expect(
            ops,
            `${describeObject(o)} uses ${ref.kind} ${ref.name}: docs/operations.md says \`${how}\``,
          ).to.include(how);
        }
      }
    });
  });
}

describe("deploy/kubernetes/overlays/production: more of everything than the base, and disruption budgets", function () {
  this.timeout(60_000);
  let base: K8sObject[];
  let prod: K8sObject[];

  before(async () => {
    [base, prod] = await Promise.all([kustomize("base"), kustomize("overlays/production")]);
  });

  it("every workload has a PodDisruptionBudget whose selector matches its pods", () => {
    const pdbs = prod.filter((o) => o.kind === "PodDisruptionBudget");
    for (const { o, spec } of workloads(prod)) {
      const labels = spec.template.metadata.labels;
      const match = pdbs.filter((p) => {
        const sel = (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
        return Object.entries(sel).every(([k, v]) => labels[k] === v);
      });
      expect(match, describeObject(o)).to.have.length(1);
    }
  });

  it("more replicas, pods spread by anti-affinity, one NATS server per node, larger NATS volumes", () => {
    for (const name of ["vrsky-reconciler", "vrsky-gateway", "vrsky-api"]) {
      const b = workloads([find(base, "Deployment", name)])[0]!.spec;
      const p = workloads([find(prod, "Deployment", name)])[0]!.spec;
      expect(p.replicas, name).to.be.greaterThan(b.replicas!);
    }
    for (const { o, spec } of workloads(prod))
      expect(spec.template.spec.affinity, describeObject(o)).to.have.property("podAntiAffinity");
    const nats = find(prod, "StatefulSet", "nats").spec as {
      template: { spec: PodSpec };
      volumeClaimTemplates: Array<{ spec: { resources: { requests: { storage: string } } } }>;
    };
    const required = (nats.template.spec.affinity as { podAntiAffinity: Record<string, unknown> }).podAntiAffinity;
    expect(required).to.have.property("requiredDuringSchedulingIgnoredDuringExecution");
    const size = (o: K8sObject) =>
      parseInt((o.spec as typeof nats).volumeClaimTemplates[0]!.spec.resources.requests.storage, 10);
    expect(size(find(prod, "StatefulSet", "nats"))).to.be.greaterThan(size(find(base, "StatefulSet", "nats")));
    const hpa = (objs: K8sObject[]) =>
      (find(objs, "HorizontalPodAutoscaler", "vrsky-worker").spec as { minReplicas: number }).minReplicas;
    expect(hpa(prod)).to.be.greaterThan(hpa(base));
  });
});

describe("deploy/kubernetes: the checks refuse what the API server or the CLI would", () => {
  it("a container port that is not a number, and a kind the schemas do not know, are refused", () => {
    const bad = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "x", namespace: "vrsky" },
      spec: {
        selector: { matchLabels: { a: "b" } },
        template: { spec: { containers: [{ name: "c", image: "i", ports: [{ containerPort: "http" }] }] } },
      },
    };
    expect(() => validateObject(bad)).to.throw(/Deployment vrsky\/x does not match.*containerPort/);
    expect(() => validateObject({ ...bad, kind: "Deploymnet" })).to.throw(
      /no Kubernetes schema for apps\/v1 Deploymnet/,
    );
  });
});

describe("deploy/kubernetes: no file holds a Secret", () => {
  it("no manifest under deploy/kubernetes is of kind Secret", () => {
    const files = readdirSync(KUBERNETES_DIR, { recursive: true })
      .map(String)
      .filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).to.be.greaterThan(5);
    for (const f of files) {
      const docs = parseAllDocuments(readFileSync(join(KUBERNETES_DIR, f), "utf8"));
      const kinds = docs.map((d) => (d.toJS() as { kind?: string } | null)?.kind);
      expect(kinds, f).to.not.include("Secret");
    }
  });
});

/** The value given to a flag in a container's args (`--flag value` or `--flag=value`). */
type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values: string[] }>;
};

/** Whether a label selector selects these labels (the operators the provisioner uses: `In`). */
function matches(sel: Selector, labels: Record<string, string> = {}): boolean {
  const byLabel = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (sel.matchExpressions ?? []).every((e) => e.operator === "In" && e.values.includes(labels[e.key]!));
  return byLabel && byExpr;
}

function argValue(c: Container, flag: string): string | undefined {
  const args = c.args ?? [];
  const i = args.indexOf(flag);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/** With a read-only root file system, /tmp must be a writable emptyDir. */
function expectTmpOnEmptyDir(c: Container, pod: PodSpec, at: string): void {
  const mount = c.volumeMounts?.find((m) => m.mountPath === "/tmp");
  expect(mount, `${at}: /tmp is mounted`).to.not.equal(undefined);
  const volume = pod.volumes?.find((v) => v.name === mount!.name);
  expect(volume, `${at}: /tmp`).to.have.property("emptyDir");
}

/** The Secrets and ConfigMaps a pod reads: volumes, env valueFrom and envFrom. */
function references(pod: PodSpec): Array<{ kind: "Secret" | "ConfigMap"; name: string }> {
  const refs: Array<{ kind: "Secret" | "ConfigMap"; name: string }> = [];
  for (const v of pod.volumes ?? []) {
    const secret = v.secret as { secretName?: string } | undefined;
    const configMap = v.configMap as { name?: string } | undefined;
    if (secret?.secretName) refs.push({ kind: "Secret", name: secret.secretName });
    if (configMap?.name) refs.push({ kind: "ConfigMap", name: configMap.name });
  }
  for (const c of pod.containers)
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef?.name) refs.push({ kind: "Secret", name: e.valueFrom.secretKeyRef.name });
      if (e.valueFrom?.configMapKeyRef?.name) refs.push({ kind: "ConfigMap", name: e.valueFrom.configMapKeyRef.name });
    }
  return refs;
}
