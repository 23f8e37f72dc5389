/**
 * A private PostgreSQL cluster on this machine, for the demos (`npm run demo`) and the tests: initdb into a
 * temporary directory, started with `wal_level=logical` on 127.0.0.1 on a free port (and a unix socket in the
 * directory), stopped (`pg_ctl stop -m immediate`) and removed by `cleanup`. initdb and the server refuse to run
 * as root: as root they run as the `postgres` user (`runuser -u postgres --`), with the directory handed to it.
 *
 * The cluster has a superuser `postgres` and a user (`vrsky`) with LOGIN and REPLICATION, both with passwords over
 * TCP (scram-sha-256), and a database owned by that user. The binaries are found through `VRSKY_PG_BINDIR`,
 * `pg_config --bindir`, or the newest /usr/lib/postgresql/<version>/bin.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface ClusterOptions {
  /** The connectors' user (LOGIN, REPLICATION). */
  user: string;
  password: string;
  /** Owned by `user`. */
  database: string;
  superuserPassword: string;
  /** Prefix of the temporary directory. */
  prefix?: string;
}

/** The directory of initdb, pg_ctl and postgres; throws with what to install when there is none. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.VRSKY_PG_BINDIR) candidates.push(process.env.VRSKY_PG_BINDIR);
  try {
    candidates.push(execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: "pipe" }).trim());
  } catch {
    // no pg_config on the PATH
  }
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, "bin")));
  }
  const found = candidates.find((d) => d && existsSync(join(d, "initdb")) && existsSync(join(d, "pg_ctl")));
  if (!found)
    throw new Error(
      "no PostgreSQL server binaries (initdb, pg_ctl): install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), or set VRSKY_PG_BINDIR",
    );
  return found;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The user the server runs as: `postgres` when we are root, ourselves otherwise. */
function serverUser(): { uid: number; gid: number; wrap: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid, wrap: ["runuser", "-u", "postgres", "--"] };
}

export class PostgresCluster {
  readonly dir: string;
  port = 0;
  private readonly bin = postgresBinDir();
  private readonly runAs = serverUser();
  private readonly clients: pg.Client[] = [];
  private running = false;

  constructor(readonly options: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), options.prefix ?? "vrsky-pg-"));
  }

  get data(): string {
    return join(this.dir, "data");
  }

  async start(): Promise<this> {
    if (this.runAs) {
      chownSync(this.dir, this.runAs.uid, this.runAs.gid);
      chmodSync(this.dir, 0o700);
    }
    const pwfile = join(this.dir, "pwfile");
    writeFileSync(pwfile, this.options.superuserPassword + "\n", { mode: 0o600 });
    if (this.runAs) chownSync(pwfile, this.runAs.uid, this.runAs.gid);
    await this.exec("initdb", [
      ...["-D", this.data, "-U", "postgres", "--pwfile", pwfile, "-A", "scram-sha-256", "--auth-local", "trust"],
      ...["-E", "UTF8", "--no-sync", "--locale", "C"],
    ]);
    rmSync(pwfile);
    const hba = [
      "local all all trust",
      "local replication all trust",
      "host all all 127.0.0.1/32 scram-sha-256",
      "host replication all 127.0.0.1/32 scram-sha-256",
    ];
    writeFileSync(join(this.data, "pg_hba.conf"), hba.join("\n") + "\n");
    if (this.runAs) chownSync(join(this.data, "pg_hba.conf"), this.runAs.uid, this.runAs.gid);
    this.port = await freePort();
    await this.startServer();
    const { user, password, database } = this.options;
    await this.superuser(
      `CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN REPLICATION PASSWORD ${pg.escapeLiteral(password)}`,
    );
    await this.superuser(`CREATE DATABASE ${pg.escapeIdentifier(database)} OWNER ${pg.escapeIdentifier(user)}`);
    return this;
  }

  /** Starts the server (again) on its port and data directory. */
  async startServer(): Promise<void> {
    const options = [
      `-c port=${this.port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${this.dir}`,
      "-c wal_level=logical",
      "-c max_replication_slots=20",
      "-c max_wal_senders=20",
      "-c max_connections=100",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c shared_buffers=16MB",
      "-c wal_sender_timeout=60s",
    ].join(" ");
    await this.exec("pg_ctl", ["-D", this.data, "-l", join(this.dir, "server.log"), "-o", options, "-w", "start"]);
    this.running = true;
  }

  /** Stops the server at once (no shutdown checkpoint: as a crash would). */
  async stopServer(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.exec("pg_ctl", ["-D", this.data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
  }

  /** A client as the user on the database (or as the superuser); closed by `cleanup` if not before. */
  async client(superuser = false, database = this.options.database): Promise<pg.Client> {
    const c = new pg.Client({
      host: "127.0.0.1",
      port: this.port,
      database,
      user: superuser ? "postgres" : this.options.user,
      password: superuser ? this.options.superuserPassword : this.options.password,
      application_name: "vrsky-local",
    });
    c.on("error", () => undefined);
    await c.connect();
    this.clients.push(c);
    return c;
  }

  /** One statement as the user on the database. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const c = await this.client();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await this.close(c);
    }
  }

  /** One statement as the superuser (on `postgres` unless told). */
  async superuser(sql: string, params: unknown[] = [], database = "postgres"): Promise<pg.QueryResultRow[]> {
    const c = await this.client(true, database);
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await this.close(c);
    }
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await this.stopServer();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async close(c: pg.Client): Promise<void> {
    this.clients.splice(this.clients.indexOf(c), 1);
    await c.end().catch(() => undefined);
  }

  /** Runs a binary of the server as its user; rejects with its output when it fails. */
  private exec(name: string, args: string[]): Promise<void> {
    const command = [...(this.runAs?.wrap ?? []), join(this.bin, name), ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr.on("data", (b: Buffer) => (out += b.toString()));
      child.on("error", reject);
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`${name} exited with ${code}: ${out.slice(-2000)}`)),
      );
    });
  }
}
