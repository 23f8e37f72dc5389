import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { cli } from "../helpers/cli.js";
import { runVrsky, type ProcessResult } from "../helpers/cli-run.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { expectPromtoolPasses } from "../helpers/promtool.js";
import { VrskyProcess } from "../helpers/process.js";

/**
 * How every command ends (issue 11, items 10–12), run as a user runs them: the real program in a process of its
 * own. A NATS URL that accepts TCP but never speaks NATS, listen addresses of every form, and the flag mistakes
 * that used to pass, hang or end in a stack trace.
 */
describe("vrsky ends with its exit code: silent NATS, listen addresses, flag mistakes", function () {
  this.timeout(180_000);
  const fx = useNats({ repo: "test" });

  /** A TCP server that accepts connections and never writes a byte (a port that is not NATS). */
  async function silentServer(): Promise<{ url: string; sockets: Set<Socket> }> {
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    fx.defer(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    );
    return { url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
  }

  /** A loopback port held by a listener of this test (for "already in use"). */
  async function busyPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    fx.defer(() => new Promise<void>((r) => server.close(() => r())));
    return (server.address() as AddressInfo).port;
  }

  function scratch(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    fx.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Runs the commands as processes, `width` at a time (the machine has few cores). */
  /** An admin key file for `vrsky api`. */
  function adminKeyFile(): string {
    const file = join(scratch("vrsky-api-key-"), "admin.key");
    writeFileSync(file, "admin-key-0123456789abcdef\n", { mode: 0o600 });
    return file;
  }

  async function runAll(commands: string[][], timeoutMs: number, width = 3): Promise<ProcessResult[]> {
    const out: ProcessResult[] = new Array(commands.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < commands.length) {
          const i = next++;
          out[i] = await runVrsky(commands[i]!, timeoutMs);
        }
      }),
    );
    return out;
  }

  // Regression: a NATS client whose connect timed out keeps its socket open for ever; every command printed the
  // timeout and then never exited (the process waited on that socket).
  it("every command that takes --nats exits 2 with one line when the port accepts TCP but is not NATS", async () => {
    repo().write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const silent = await silentServer();
    const user = FastKeyPair.create("user").getPublicKey();
    const data = scratch("vrsky-up-silent-");
    const adminKey = adminKeyFile();
    const n = ["--nats", silent.url];
    const commands = [
      ["status", ...n],
      ["reconcile", "--repo", repo().dir, ...n, "--once"],
      ["reconcile", "--repo", repo().dir, ...n],
      ["revoke", "--tenant", "acme", "--user", user, ...n],
      ["dlq", "list", "--tenant", "acme", "--integration", "a", ...n],
      ["trace", "m-1", "--tenant", "acme", "--integration", "a", ...n],
      ["worker", ...n],
      ["gateway", ...n, "--listen", "127.0.0.1:0"],
      ["api", ...n, "--listen", "127.0.0.1:0", "--admin-key-file", adminKey],
      [
        "up",
        "--repo",
        repo().dir,
        ...n,
        "--data",
        data,
        "--gateway-listen",
        "off",
        "--api-listen",
        "off",
        "--worker-capacity",
        "0",
      ],
    ];
    // The connect timeout is 5 s; the rest is the start of a process on a busy machine. Without the fix: never.
    const results = await runAll(commands, 60_000, commands.length); // all at once: each mostly waits for its timeout
    results.forEach((r, i) => {
      expectCodedFailure(r, "VRS_NATS_UNAVAILABLE", commands[i]!.join(" "));
      expect(r.stderr, commands[i]!.join(" ")).to.match(/timeout/);
    });
    expect(silent.sockets.size, "connections left open to the silent port").to.equal(0);
  });

  it("--listen: every form is checked with the other flags, before any I/O, in every command that has it", async () => {
    const silent = await silentServer(); // a connect would take 5 s and say VRS_NATS_UNAVAILABLE
    const adminKey = adminKeyFile();
    const n = ["--nats", silent.url];
    const bad = ["nope", "::1:9464", "[nope]:1", "127.0.0.1:99999", "a b:80", "127.0.0.1:", "host:-1"];
    for (const addr of bad) {
      const cases: string[][] = [
        ["reconcile", "--repo", repo().dir, ...n, "--listen", addr],
        ["worker", ...n, "--listen", addr],
        ["gateway", ...n, "--listen", addr],
        ["api", ...n, "--admin-key-file", adminKey, "--listen", addr],
        ["up", "--repo", repo().dir, ...n, "--listen", addr],
        ["up", "--repo", repo().dir, ...n, "--gateway-listen", addr],
        ["up", "--repo", repo().dir, ...n, "--receiver-listen", addr],
        ["up", "--repo", repo().dir, ...n, "--api-listen", addr],
      ];
      for (const args of cases) {
        const started = Date.now();
        const r = await cli(...args);
        expectCodedFailure(r, "VRS_USAGE", args.join(" "));
        const flag = args[args.length - 2]!;
        expect(r.stderr, args.join(" ")).to.contain(`${flag} '${addr}' is not a listen address`);
        expect(Date.now() - started, `${args.join(" ")}: checked before connecting`).to.be.below(3_000);
      }
    }
  });

  it("--listen :port serves on every interface, [::1]:port on IPv6 loopback; a port in use is one line, exit 2", async function () {
    const ipv6 = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.family === "IPv6"));
    const port = await freePort();
    const all = new VrskyProcess(["worker", "--nats", fx.url, "--id", "w-all", "--listen", `:${port}`]);
    const listening = await all.waitForLog((e) => e.event === "listening", 30_000);
    expect(listening.url).to.equal(ipv6 ? `http://[::]:${port}` : `http://0.0.0.0:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status, "IPv4").to.equal(200);
    // The worker's /metrics: its series (zero-valued failure states included) and the process's, as promtool wants.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).to.match(/^vrsky_worker_replicas\{state="failed"\} 0$/m);
    expect(metrics).to.match(/^vrsky_worker_capacity \d+$/m);
    expect(metrics).to.match(/^vrsky_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
    await expectPromtoolPasses(metrics);
    if (ipv6) {
      expect((await fetch(`http://[::1]:${port}/healthz`)).status, "IPv6").to.equal(200);
      const v6 = new VrskyProcess(["worker", "--nats", fx.url, "--id", "w-v6", "--listen", "[::1]:0"]);
      const url = (await v6.waitForLog((e) => e.event === "listening", 30_000)).url as string;
      expect(url).to.match(/^http:\/\/\[::1\]:\d+$/);
      expect((await fetch(`${url}/healthz`)).status).to.equal(200);
    } else {
      this.test!.title += " (no IPv6 on this machine: IPv4 only)";
    }
    const busy = await busyPort();
    for (const args of [
      ["worker", "--nats", fx.url, "--id", "w-busy", "--listen", `127.0.0.1:${busy}`],
      ["reconcile", "--repo", repo().dir, "--nats", fx.url, "--id", "r-busy", "--listen", `127.0.0.1:${busy}`],
    ]) {
      const r = await runVrsky(args, 60_000);
      expectCodedFailure(r, "VRS_LISTEN_FAILED", args.join(" "));
      expect(r.stderr).to.contain(`cannot serve --listen 127.0.0.1:${busy}: port ${busy} is already in use`);
    }
  });

  it("vrsky with no command shows the help on stderr and exits 2; `vrsky help` exits 0", async () => {
    const none = await runVrsky([]);
    expect(none.code).to.equal(2);
    expect(none.stdout).to.equal("");
    expect(none.stderr).to.match(/^Usage: vrsky /);
    const group = await runVrsky(["dlq"]);
    expect(group.code, "a command group without its subcommand").to.equal(2);
    expect((await runVrsky(["help"])).code).to.equal(0);
    expect((await runVrsky(["--help"])).code).to.equal(0);
  });

  it("reconcile: --once --branch nope exits 2 before connecting; --lease-ttl and --resync have minimums", async () => {
    repo().write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const silent = await silentServer();
    const r = await runVrsky(["reconcile", "--once", "--repo", repo().dir, "--branch", "nope", "--nats", silent.url]);
    expectCodedFailure(r, "VRS_GIT_BAD_REF");
    expect(r.stderr).to.contain("branch 'nope' does not exist");
    const n = ["--repo", repo().dir, "--nats", silent.url];
    for (const [flag, value, min] of [
      ["--lease-ttl", "0s", "1s"],
      ["--lease-ttl", "999ms", "1s"],
      ["--resync", "0s", "1s"],
      ["--resync", "10ms", "1s"],
    ] as const) {
      const bad = await cli("reconcile", ...n, flag, value);
      expectCodedFailure(bad, "VRS_USAGE", `${flag} ${value}`);
      expect(bad.stderr).to.contain(`${flag} must be at least ${min}, not '${value}'`);
    }
  });

  it("reconcile --once while another reconciler leads: exit 2 and its one line, no stack trace", async () => {
    repo().write("tenants/acme.yaml", tenantYaml("acme"));
    const rev = repo().commit();
    new VrskyProcess(["reconcile", "--repo", repo().dir, "--nats", fx.url, "--id", "leader"]);
    await waitForSync(fx.nc, appliedAt(rev), 30_000);
    const r = await runVrsky(
      ["reconcile", "--once", "--repo", repo().dir, "--nats", fx.url, "--lease-ttl", "1s"],
      60_000,
    );
    expectCodedFailure(r, "VRS_LEASE_HELD");
    expect(r.stderr).to.contain("another reconciler (leader) holds the leader lease");
  });

  it("a bad LOG_LEVEL or LOG_FORMAT stops every logging command before it connects: exit 2, the variable named", async () => {
    repo().write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const silent = await silentServer();
    const n = ["--nats", silent.url];
    const commands = [
      ["worker", ...n],
      ["gateway", ...n],
      ["reconcile", "--repo", repo().dir, ...n],
      ["up", "--repo", repo().dir, ...n],
    ];
    const runs = await Promise.all(commands.map((c) => runVrsky(c, 30_000, { LOG_LEVEL: "verbose" })));
    runs.forEach((r, i) => {
      expectCodedFailure(r, "VRS_USAGE", commands[i]!.join(" "));
      expect(r.stderr).to.contain("LOG_LEVEL must be one of trace, debug, info, warn, error, not 'verbose'");
    });
    const format = await runVrsky(["worker", ...n], 30_000, { LOG_FORMAT: "xml" });
    expectCodedFailure(format, "VRS_USAGE");
    expect(format.stderr).to.contain("LOG_FORMAT must be json or pretty");
    expect(silent.sockets.size, "nothing connected").to.equal(0);
  });

  it("a bad --replicas (or VRSKY_REPLICAS) stops reconcile, worker and up before they connect: exit 2, the flag named", async () => {
    repo().write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const silent = await silentServer();
    const n = ["--nats", silent.url];
    const commands = [
      ["worker", ...n, "--replicas", "2"],
      ["reconcile", "--repo", repo().dir, ...n, "--replicas", "2"],
      ["up", "--repo", repo().dir, ...n, "--replicas", "2"],
    ];
    const runs = await Promise.all(commands.map((c) => runVrsky(c, 30_000)));
    runs.forEach((r, i) => {
      expectCodedFailure(r, "VRS_USAGE", commands[i]!.join(" "));
      expect(r.stderr).to.contain("--replicas must be auto, 1, 3 or 5");
    });
    const env = await runVrsky(["worker", ...n], 30_000, { VRSKY_REPLICAS: "two" });
    expectCodedFailure(env, "VRS_USAGE");
    expect(env.stderr).to.contain(
      "--replicas must be auto, 1, 3 or 5 (JetStream keeps an odd number of copies), not 'two'",
    );
    expect(silent.sockets.size, "nothing connected").to.equal(0);
  });

  // Regression: Node's recursive mkdir loops for ever at full CPU when the parent refuses new entries (ENOENT).
  it("init --keys in a folder that cannot hold one (/proc) exits 2 at once", async function () {
    const r = await runVrsky(["init", "--keys", "/proc/vrsky-keys"], 30_000);
    expectCodedFailure(r, "VRS_WRITE_FAILED");
    expect(r.stderr).to.contain("/proc/vrsky-keys");
  });

  function repo() {
    return fx.repo;
  }
});

/** A loopback port free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}
