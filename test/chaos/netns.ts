/**
 * A network namespace for one worker of the chaos run (`ip netns`, a veth pair), so that a partition cuts that
 * worker off NATS while it keeps running: the namespace's side of the pair has 10.213.<n>.2, the host's side
 * 10.213.<n>.1; forwarders on both sides (`bridge`) make the NATS servers and the stand-in receiver reachable at
 * their 127.0.0.1 addresses from inside (the namespace has a loopback of its own). `partition` sets the host's side
 * down, `heal` up again. Names are unique per run; `remove` (and `removeNow`, for a synchronous exit) deletes the
 * pair and the namespace whatever happened. Needs root: `open` says why it cannot, and the scenario is skipped.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { Server, Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { forwardPort } from "./forwarder.js";

export class WorkerNamespace {
  private readonly servers: Server[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly sockets = new Set<Socket>();
  private removed = false;

  private constructor(
    readonly name: string,
    readonly hostIf: string,
    readonly hostAddress: string,
  ) {}

  /** Creates the namespace and its veth pair; a reason string when this machine does not allow it. */
  static open(): WorkerNamespace | string {
    const id = process.pid % 100_000;
    const used = run(["ip", "-4", "-o", "addr", "show"]);
    if (used.error) return `no usable \`ip\` command (${used.error})`;
    let subnet = process.pid % 250;
    while (used.out.includes(`10.213.${subnet}.`)) subnet = (subnet + 1) % 250;
    const ns = new WorkerNamespace(`vrsky-chaos-${id}`, `vch${id}`, `10.213.${subnet}.1`);
    const peer = `vcn${id}`;
    const steps = [
      ["ip", "netns", "add", ns.name],
      ["ip", "link", "add", ns.hostIf, "type", "veth", "peer", "name", peer],
      ["ip", "link", "set", peer, "netns", ns.name],
      ["ip", "addr", "add", `${ns.hostAddress}/24`, "dev", ns.hostIf],
      ["ip", "link", "set", ns.hostIf, "up"],
      ["ip", "netns", "exec", ns.name, "ip", "addr", "add", `10.213.${subnet}.2/24`, "dev", peer],
      ["ip", "netns", "exec", ns.name, "ip", "link", "set", peer, "up"],
      ["ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up"],
    ];
    for (const s of steps) {
      const r = run(s);
      if (r.error) {
        ns.removeNow();
        return `\`${s.join(" ")}\` failed: ${r.error}${process.getuid?.() !== 0 ? " (not root)" : ""}`;
      }
    }
    return ns;
  }

  /** How to run a command in the namespace (CliProcess `prefix`). */
  get prefix(): string[] {
    return ["ip", "netns", "exec", this.name];
  }

  /**
   * Makes `127.0.0.1:<port>` inside the namespace lead to `127.0.0.1:<port>` of the host, for each port: a
   * forwarder here on the host's side of the pair (same port, other address), and one in the namespace
   * (ns-forwarder.ts) to it. Resolves once both listen.
   */
  async bridge(ports: number[]): Promise<void> {
    for (const p of ports) this.servers.push(await forwardPort(this.hostAddress, p, "127.0.0.1", p, this.sockets));
    const script = join(dirname(fileURLToPath(import.meta.url)), "ns-forwarder.js");
    const child = spawn(
      "ip",
      ["netns", "exec", this.name, process.execPath, script, this.hostAddress, ...ports.map(String)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    this.children.push(child);
    await new Promise<void>((ok, fail) => {
      child.once("exit", (code) => fail(new Error(`the namespace's forwarder exited (${code})`)));
      child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && ok());
    });
  }

  /** Cuts the namespace off (the host's side of the pair down): its connections stall, as on a lost network. */
  partition(): void {
    must(["ip", "link", "set", this.hostIf, "down"]);
  }

  heal(): void {
    must(["ip", "link", "set", this.hostIf, "up"]);
  }

  /** Closes the forwarders, then deletes the pair and the namespace. */
  async remove(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    this.removeNow();
  }

  /** Deletes the pair and the namespace (synchronously; safe to call more than once). */
  removeNow(): void {
    if (this.removed) return;
    this.removed = true;
    for (const c of this.children) c.kill("SIGKILL");
    run(["ip", "link", "del", this.hostIf]);
    run(["ip", "netns", "del", this.name]);
  }
}

function run(cmd: string[]): { out: string; error?: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 10_000 });
  if (r.error) return { out: "", error: r.error.message };
  if (r.status !== 0) return { out: r.stdout, error: (r.stderr || `exit ${r.status}`).trim() };
  return { out: r.stdout };
}

function must(cmd: string[]): void {
  const r = run(cmd);
  if (r.error) throw new Error(`\`${cmd.join(" ")}\` failed: ${r.error}`);
}
