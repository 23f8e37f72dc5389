import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalNatsServer } from "../../engine/nats/local-server.js";
import { renderTenant } from "../../engine/provision/kubernetes-objects.js";

/**
 * The rendered configuration and preStop hook, run by a real nats-server with the container's paths mapped to
 * a temporary folder (and free ports): the configuration is valid, the server names itself after its pod, and
 * the preStop command puts it in lame-duck mode through the pid file the configuration writes.
 */
describe("Kubernetes provisioner: the rendered configuration and preStop on a real nats-server", function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "vrsky-kube-nats-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("starts named after its pod and enters lame-duck mode on the preStop command", async () => {
    const objs = renderTenant({ tenant: "acme", config: "" }, 1, { namespace: "vrsky" });
    const config = (objs.find((o) => o.kind === "ConfigMap")!.data as Record<string, string>)["nats.conf"]!;
    const set = objs.find((o) => o.kind === "StatefulSet")!;
    const container = (
      set.spec as {
        template: { spec: { containers: Array<{ lifecycle: { preStop: { exec: { command: string[] } } } }> } };
      }
    ).template.spec.containers[0]!;
    const paths: Array<[string, string]> = [
      ["/var/run/nats", join(dir, "run")],
      ["/data", join(dir, "data")],
    ];
    const local = (text: string) => paths.reduce((t, [from, to]) => t.split(from).join(to), text);
    for (const [, to] of paths) mkdirSync(to);
    writeFileSync(
      join(dir, "nats.conf"),
      local(config).replace("port: 4222", "port: -1").replace("http_port: 8222", "http_port: -1"),
    );
    const bin = LocalNatsServer.binary();
    const server = spawn(bin, ["--config", join(dir, "nats.conf")], {
      env: { ...process.env, POD_NAME: "vrsky-nats-acme-0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => log.includes(text) && resolve();
        server.stderr.on("data", (b: Buffer) => ((log += b.toString("utf8")), check()));
        server.once("exit", () =>
          log.includes(text) ? resolve() : reject(new Error(`exited before '${text}':\n${log}`)),
        );
        check();
      });
    const exited = new Promise((resolve) => server.once("exit", resolve));
    try {
      await seen("Server is ready");
      expect(log).to.match(/Name: +vrsky-nats-acme-0/);
      const [cmd, ...args] = container.lifecycle.preStop.exec.command.map(local);
      expect(cmd).to.equal("nats-server");
      const hook = spawnSync(bin, args, { encoding: "utf8" });
      expect(hook.status, hook.stderr).to.equal(0);
      await seen("Entering lame duck mode");
      await exited;
    } finally {
      server.kill("SIGKILL");
    }
  });
});
