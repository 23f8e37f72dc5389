import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { openTenantAccess } from "../../engine/cli/tenant-access.js";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { packageRoot } from "../../engine/util/package-root.js";
import type { StatusView } from "../../engine/views/status.js";
import { cli } from "../helpers/cli.js";
import { sign } from "../helpers/e2e-traffic.js";
import { WebhookClient } from "../helpers/gateway.js";
import { TestRepo } from "../helpers/git-repo.js";

/** Pids of the processes whose command line names `dir` (every process of the topology names its data folder). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(dir)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** `npm run cluster`'s program, as a terminal runs it: the leader of its own process group. */
class ClusterRun {
  readonly child: ChildProcess;
  stdout = "";
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [join(packageRoot(), "dist/engine/cluster/main.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const wake = () => this.waiters.forEach((w) => w());
    this.child.stdout!.on("data", (b: Buffer) => ((this.stdout += b.toString("utf8")), wake()));
    this.child.stderr!.on("data", (b: Buffer) => ((this.stdout += b.toString("utf8")), wake()));
    this.exited = new Promise((r) => this.child.once("exit", (code) => (r(code), wake())));
  }

  /** Resolves with the first match of `re` in its output, waking on every chunk it prints. */
  output(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.stdout);
        if (m) return done(undefined, m);
        if (this.child.exitCode !== null) done(new Error(`exited before printing ${re}:\n${this.stdout}`));
      };
      const timer = setTimeout(() => done(new Error(`no ${re} within ${timeoutMs} ms:\n${this.stdout}`)), timeoutMs);
      const done = (e?: Error, m?: RegExpExecArray) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (e) reject(e);
        else resolve(m!);
      };
      this.waiters.add(check);
      check();
    });
  }
}

describe("npm run cluster: 3 NATS servers, 2 reconcilers, 3 workers, a gateway and the API on loopback", function () {
  this.timeout(240_000);
  let repo: TestRepo;
  let data: string;
  let run: ClusterRun | undefined;
  const client = new WebhookClient();

  before(() => {
    repo = new TestRepo("vrsky-cluster-examples-");
    for (const dir of ["tenants", "integrations"])
      cpSync(join(packageRoot(), dir), join(repo.dir, dir), { recursive: true });
    repo.commit("the bundled examples");
    data = mkdtempSync(join(tmpdir(), "vrsky-cluster-data-"));
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    // The processes' own words: the last lines of every log of the topology (the folder goes in `after`).
    const logs = join(data, "logs");
    for (const f of existsSync(logs) ? readdirSync(logs).sort() : []) {
      const lines = readFileSync(join(logs, f), "utf8").trimEnd().split("\n");
      console.log(`      --- ${f} (last 15 of ${lines.length} lines)\n${lines.slice(-15).join("\n")}`);
    }
  });

  after(async function () {
    // Whatever happened: nothing of the topology outlives the test.
    if (run && run.child.exitCode === null) {
      process.kill(-run.child.pid!, "SIGINT");
      await run.exited;
    }
    for (const pid of processesUnder(data)) process.kill(pid, "SIGKILL");
    await client.close();
    repo.cleanup();
    rmSync(data, { recursive: true, force: true });
  });

  it("runs the examples, keeps the state and streams at R3, and Ctrl-C leaves no process", async () => {
    run = new ClusterRun(["--repo", repo.dir, "--branch", "main", "--data", data]);
    await run.output(/VRSky cluster is running\./, 180_000);
    const nats = /\n {2}NATS +(\S+)/.exec(run.stdout)![1]!;
    const gateway = /webhooks +(http:\/\/127\.0\.0\.1:\d+)\/t\//.exec(run.stdout)![1]!;
    const keys = join(data, "keys");
    expect(run.stdout).to.match(/reconciler r1 +up \((leads|stands by)\)/);
    expect(run.stdout).to.match(/reconciler r2 +up \((leads|stands by)\)/);
    for (const w of ["w1", "w2", "w3"]) expect(run.stdout).to.match(new RegExp(`worker ${w} +up \\(registered\\)`));
    expect(run.stdout).to.match(/admin key in \S+api-admin-key/);
    // The runner's own example order arrives ...
    await run.output(/✓ delivered to the stand-in receiver/, 60_000);

    // ... and so does one of the test's, through the gateway, a worker and the stand-in receiver.
    const secret = readFileSync(join(data, "secrets", "acme", "shop-webhook-signing"));
    const body = JSON.stringify({ order: { id: 7001, total: 250 } });
    const answer = await client.send(`${gateway}/t/acme/orders`, {
      headers: {
        "content-type": "application/json",
        "idempotency-key": "e2e-7001",
        "x-signature-256": sign(body, secret),
      },
      body,
    });
    expect(answer.status, answer.text).to.equal(202);
    const line = await run.output(
      /stand-in receiver: POST \/acme\/orders-to-slack \(Idempotency-Key e2e-7001\): .*/,
      60_000,
    );
    expect(line[0]).to.include('"text":"New order 7001"');

    // The platform state is R3 on the cluster, as `vrsky status` says, and so are the integration's streams.
    const status = await cli("status", "--nats", nats, "--keys", keys, "--format", "json");
    const view = JSON.parse(status.stdout) as StatusView;
    expect(view.replication).to.include({ cluster: "vrsky", servers: 3, replicas: 3 });
    const text = await cli("status", "--nats", nats, "--keys", keys);
    expect(text.stdout).to.include("state: R3 on cluster vrsky (3 servers)");
    const acme = await openTenantAccess({ nats, keys, tenant: "acme", name: "vrsky-e2e" });
    try {
      const jsm = await jetstreamManager(acme.nc);
      const names = integrationStreams("acme", "orders-to-slack");
      for (const s of [names.ingest, names.deadLetter, names.trace, `OBJ_${names.objectStore}`])
        expect((await jsm.streams.info(s)).config.num_replicas, s).to.equal(3);
    } finally {
      await acme.close();
    }

    expect(processesUnder(data).length, "the topology's processes run").to.be.at.least(10);
    process.kill(-run.child.pid!, "SIGINT");
    expect(await run.exited).to.equal(0);
    expect(run.stdout).to.include("stopped: no process left.");
    expect(processesUnder(data), "no process of the topology is left").to.deep.equal([]);
  });

  it("starts again on the same data folder: the keys and the R3 state are kept, nothing to apply", async () => {
    run = new ClusterRun(["--repo", repo.dir, "--branch", "main", "--data", data, "--no-example"]);
    await run.output(/VRSky cluster is running\./, 180_000);
    expect(run.stdout).to.match(/keys +\S+keys\n/);
    expect(run.stdout).to.match(/reconciled +NoChange /);
    const nats = /\n {2}NATS +(\S+)/.exec(run.stdout)![1]!;
    const status = await cli("status", "--nats", nats, "--keys", join(data, "keys"), "--format", "json");
    expect((JSON.parse(status.stdout) as StatusView).replication).to.include({ servers: 3, replicas: 3 });
    process.kill(-run.child.pid!, "SIGINT");
    expect(await run.exited).to.equal(0);
    expect(processesUnder(data), "no process of the topology is left").to.deep.equal([]);
  });
});
