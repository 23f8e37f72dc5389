import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initKeys } from "../../../engine/accounts/keys.js";
import { LocalNatsServer } from "../../../engine/nats/local-server.js";
import { find, kustomize, type Container, type K8sObject } from "../../helpers/kustomize.js";

interface StatefulSetSpec {
  replicas: number;
  serviceName: string;
  template: {
    spec: {
      terminationGracePeriodSeconds: number;
      containers: Container[];
      volumes: Array<{ name: string; configMap?: { name: string; items?: Array<{ key: string; path: string }> } }>;
    };
  };
}

for (const dir of ["base", "overlays/production"]) {
  describe(`deploy/kubernetes/${dir}: the NATS cluster's configuration`, function () {
    this.timeout(60_000);
    let objects: K8sObject[];
    let sts: StatefulSetSpec;
    let conf: string;
    let tmp: string;

    before(async () => {
      objects = await kustomize(dir);
      sts = find(objects, "StatefulSet", "nats").spec as StatefulSetSpec;
      conf = (find(objects, "ConfigMap", "nats-config").data as Record<string, string>)["nats.conf"]!;
      tmp = mkdtempSync(join(tmpdir(), "vrsky-nats-conf-"));
    });

    after(() => rmSync(tmp, { recursive: true, force: true }));

    it("nats-server accepts it, with vrsky init's operator fragment included and the pod's variables set", () => {
      // The paths of the pod, moved into a temporary folder: `nats-server -t` makes the resolver's folder.
      const moved = conf.replaceAll("/data", join(tmp, "data")).replaceAll("/var/run/nats", join(tmp, "run"));
      expect(moved, "the pod's paths were all moved").to.not.match(/[\s:]\/(data|var)\b/);
      mkdirSync(join(tmp, "operator"));
      initKeys(join(tmp, "keys"));
      writeFileSync(join(tmp, "nats.conf"), moved);
      // The operator fragment comes from the ConfigMap the operator creates from vrsky init's nats-server.conf.
      const operator = sts.template.spec.volumes.find((v) => v.name === "operator")!.configMap!;
      expect(operator.name).to.equal("vrsky-nats-operator");
      copyFileSync(join(tmp, "keys", "nats-server.conf"), join(tmp, "operator", operator.items![0]!.path));
      const c = sts.template.spec.containers[0]!;
      const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
      const r = spawnSync(LocalNatsServer.binary(), ["-t", "-c", join(tmp, "nats.conf")], {
        encoding: "utf8",
        env: { ...process.env, ...env, POD_NAME: "nats-0" },
      });
      expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
      expect(`${r.stdout}${r.stderr}`).to.match(/is valid/);
    });

    it("routes name every server of the StatefulSet through its headless Service", () => {
      const routes = [...conf.matchAll(/nats:\/\/([\w-]+)\.([\w-]+):6222/g)];
      expect(routes.map((m) => m[1])).to.deep.equal(Array.from({ length: sts.replicas }, (_, i) => `nats-${i}`));
      for (const m of routes) expect(m[2]).to.equal(sts.serviceName);
      const headless = find(objects, "Service", sts.serviceName).spec as { clusterIP: string };
      expect(headless.clusterIP).to.equal("None");
    });

    it("the pod outlives lame-duck mode: its grace period is above lame_duck_duration plus the grace period", () => {
      const seconds = (key: string) => Number(new RegExp(`${key}: (\\d+)s`).exec(conf)?.[1]);
      const drain = seconds("lame_duck_duration") + seconds("lame_duck_grace_period");
      expect(drain).to.be.greaterThan(0);
      expect(sts.template.spec.terminationGracePeriodSeconds).to.be.greaterThan(drain);
      const c = sts.template.spec.containers[0]!;
      const preStop = (c as { lifecycle?: { preStop?: { exec?: { command: string[] } } } }).lifecycle?.preStop;
      expect(preStop?.exec?.command.join(" ")).to.match(/--signal ldm=\/var\/run\/nats\/nats\.pid/);
      expect(conf).to.include("pid_file: /var/run/nats/nats.pid");
    });
  });
}
