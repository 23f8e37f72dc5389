import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage, VrskyError } from "../errors/errors.js";

export interface LocalServerOptions {
  /** Folder for the store, config, ports file and log. */
  dir: string;
  /** Fixed client port; by default a free one is chosen by the server. */
  port?: number;
  /** Extra configuration text appended to the generated config (e.g. operator mode). */
  extraConfig?: string;
  serverName?: string;
  /** How long to wait for the server to accept clients. */
  startTimeoutMs?: number;
}

/** A nats-server process with JetStream, owned by this process: started here, stopped here. */
export class LocalNatsServer {
  private child: ChildProcess | undefined;
  private stopping = false;
  private readonly exitListeners = new Set<(code: number | null) => void>();
  url = "";
  port = 0;

  constructor(readonly options: LocalServerOptions) {}

  /** The nats-server executable: $VRSKY_NATS_SERVER, else the first on PATH (or /usr/sbin, where Debian puts it). */
  static binary(): string {
    const override = process.env.VRSKY_NATS_SERVER;
    if (override) {
      if (existsSync(override)) return override;
      throw new VrskyError(
        "VRS_NATS_SERVER_MISSING",
        `VRSKY_NATS_SERVER names ${override}, which does not exist; install nats-server with: sudo apt-get install -y nats-server`,
      );
    }
    for (const p of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/local/bin", "/usr/bin"])) {
      if (p && existsSync(join(p, "nats-server"))) return join(p, "nats-server");
    }
    throw new VrskyError(
      "VRS_NATS_SERVER_MISSING",
      "nats-server is not installed (looked on PATH and in /usr/sbin); install it with: sudo apt-get install -y nats-server",
    );
  }

  static version(): string {
    const r = spawnSync(LocalNatsServer.binary(), ["--version"], { encoding: "utf8" });
    return r.stdout.trim();
  }

  async start(): Promise<this> {
    const bin = LocalNatsServer.binary();
    const { dir } = this.options;
    const store = join(dir, "jetstream");
    const portsDir = join(dir, "ports");
    const conf = join(dir, "nats-server.conf");
    try {
      mkdirSync(store, { recursive: true });
      mkdirSync(portsDir, { recursive: true });
      for (const f of readdirSync(portsDir)) if (f.endsWith(".ports")) writeFileSync(join(portsDir, f), "");
      writeFileSync(
        conf,
        [
          `server_name: ${JSON.stringify(this.options.serverName ?? "vrsky-local")}`,
          `listen: "127.0.0.1:${this.options.port ?? -1}"`,
          `jetstream { store_dir: ${JSON.stringify(store)} }`,
          `ports_file_dir: ${JSON.stringify(portsDir)}`,
          "max_payload: 8MB",
          this.options.extraConfig ?? "",
        ].join("\n") + "\n",
      );
    } catch (e) {
      throw new VrskyError("VRS_WRITE_FAILED", `cannot prepare nats-server's folder ${dir}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and a server that died with
    // its parent's SIGINT would leave the worker's drain and the reconciler's last writes with no server. The
    // process that started it stops it, after them (stop()).
    const child = spawn(bin, ["-c", conf, "-l", join(dir, "nats-server.log")], {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    this.child = child;
    this.stopping = false;
    child.once("exit", (code) => {
      if (!this.stopping) for (const l of this.exitListeners) l(code);
    });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    const exited = new Promise<never>((_, reject) => {
      child.once("exit", (code) =>
        reject(
          new VrskyError(
            "VRS_NATS_SERVER_FAILED",
            `nats-server exited (code ${code}) while starting: ${stderr.trim() || `see ${join(dir, "nats-server.log")}`}`,
          ),
        ),
      );
      // e.g. the binary is not executable: spawn reports it here, and there is no exit to wait for.
      child.once("error", (e) =>
        reject(new VrskyError("VRS_NATS_SERVER_FAILED", `cannot run ${bin}: ${e.message}`, { cause: e })),
      );
    });
    let gone = false;
    exited.catch(() => (gone = true));
    const portsFile = join(portsDir, `${basenameOf(bin)}_${child.pid}.ports`);
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 15_000);
    try {
      await Promise.race([exited, this.waitForPorts(portsFile, deadline, () => gone)]);
    } catch (e) {
      // Too slow to start: do not leave it running behind an error (nor keep this process alive through its pipe).
      if (!gone) child.kill("SIGKILL");
      throw e;
    }
    return this;
  }

  private async waitForPorts(file: string, deadline: number, gone: () => boolean): Promise<void> {
    // The server writes its ports file once it listens; poll the file (there is no event to await).
    while (!gone()) {
      if (existsSync(file)) {
        const text = readFileSync(file, "utf8");
        if (text.trim() !== "") {
          const ports = JSON.parse(text) as { nats?: string[] };
          const u = new URL((ports.nats ?? [])[0]!.replace(/^nats:/, "http:"));
          this.port = Number(u.port);
          this.url = `nats://127.0.0.1:${this.port}`;
          return;
        }
      }
      if (Date.now() > deadline) throw new VrskyError("VRS_NATS_SERVER_FAILED", "nats-server did not start in time");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Called when the server exits without stop() having been called (it crashed or was killed). */
  onUnexpectedExit(listener: (code: number | null) => void): void {
    this.exitListeners.add(listener);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Lame-duck mode: the server stops accepting clients and closes existing ones gradually (SIGUSR2). */
  lameDuck(): void {
    if (this.running) this.child!.kill("SIGUSR2");
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the server and waits for the process to exit. `kill` sends SIGKILL instead of SIGTERM. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    this.stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
    this.child = undefined;
  }
}

function basenameOf(p: string): string {
  return p.split("/").pop()!;
}
