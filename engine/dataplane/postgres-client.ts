/**
 * What the `postgres` sink and the `postgres-cdc` source share at run time, and the reconciler, which drops the
 * replication slot of a deleted `postgres-cdc` integration (engine/reconciler/cdc-slot-drops.ts): reading the
 * connection fields of their config (engine/connectors/postgres-connection.ts), the password from the tenant's
 * secret, `sslmode` as libpq means it, quoting identifiers, and telling a lost connection (transient) from an error
 * of the statement.
 *
 * `sslmode`: `disable` plain; `prefer` TLS when the server offers it, plain otherwise (decided at the first
 * connection and kept); `require` TLS without checking the certificate; `verify-full` TLS with the certificate
 * checked against the system's CAs and the host name.
 */
import type { ClientConfig } from "pg";
import pg from "pg";
import type { SecretValue } from "../secrets/value.js";

/** Where a connector's `secretRef` resolves: the tenant's secrets at the integration's revision. */
export interface SecretLookup {
  secret(name: string): Promise<SecretValue>;
}

export type SslMode = "disable" | "prefer" | "require" | "verify-full";

export interface PostgresConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  secretRef?: string;
  sslmode: SslMode;
}

/** How long a connection attempt may take. */
export const PG_CONNECT_TIMEOUT_MS = 10_000;

export function readPostgresConnection(config: Record<string, unknown>, what: string): PostgresConnection {
  const text = (k: string): string => {
    const v = config[k];
    if (typeof v !== "string" || v === "") throw new Error(`the ${what} has no ${k}`);
    return v;
  };
  const sslmode = (config.sslmode ?? "prefer") as SslMode;
  if (!["disable", "prefer", "require", "verify-full"].includes(sslmode)) throw new Error(`bad sslmode ${sslmode}`);
  return {
    host: text("host"),
    port: typeof config.port === "number" ? config.port : 5432,
    database: text("database"),
    user: text("user"),
    ...(typeof config.secretRef === "string" && config.secretRef !== "" ? { secretRef: config.secretRef } : {}),
    sslmode,
  };
}

/** `host:port/database`, for error texts and logs (never the password). */
export function labelOf(c: PostgresConnection): string {
  return `${c.host}:${c.port}/${c.database}`;
}

/**
 * The client configuration of one connector: resolves the password once (VRS_SECRET_MISSING rejects), and for
 * `prefer` decides TLS or plain at the first successful probe.
 */
export class PostgresTarget {
  private ssl: ClientConfig["ssl"] | undefined;

  private constructor(
    readonly c: PostgresConnection,
    private readonly password: string | undefined,
    readonly applicationName: string,
  ) {
    if (c.sslmode === "disable") this.ssl = false;
    else if (c.sslmode === "require") this.ssl = { rejectUnauthorized: false };
    else if (c.sslmode === "verify-full") this.ssl = { rejectUnauthorized: true, servername: c.host };
  }

  static async open(c: PostgresConnection, env: SecretLookup, applicationName: string): Promise<PostgresTarget> {
    const password = c.secretRef === undefined ? undefined : (await env.secret(c.secretRef)).revealText();
    return new PostgresTarget(c, password, applicationName);
  }

  get label(): string {
    return labelOf(this.c);
  }

  /** The client configuration; for `prefer`, connects once to learn whether the server speaks TLS. */
  async config(extra: Partial<ClientConfig> = {}): Promise<ClientConfig> {
    if (this.ssl === undefined) this.ssl = await this.probe();
    return { ...this.base(), ssl: this.ssl, ...extra };
  }

  private base(): ClientConfig {
    return {
      host: this.c.host,
      port: this.c.port,
      database: this.c.database,
      user: this.c.user,
      ...(this.password !== undefined ? { password: this.password } : {}),
      application_name: this.applicationName,
      connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
      keepAlive: true,
    };
  }

  private async probe(): Promise<ClientConfig["ssl"]> {
    const tls = { rejectUnauthorized: false };
    const client = new pg.Client({ ...this.base(), ssl: tls });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return tls;
    } catch (e) {
      if (/does not support SSL/i.test(e instanceof Error ? e.message : String(e))) return false;
      throw e;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** An identifier in double quotes (`"` doubled), so that any name is read as a name and never as SQL. */
export function quoteIdent(name: string): string {
  if (name.includes("\0")) throw new Error("an identifier cannot hold a NUL character");
  return `"${name.replace(/"/g, '""')}"`;
}

/** `table` or `schema.table` (as the schemas allow them: no dots inside a part), quoted. */
export function quoteQualified(name: string): string {
  return name.split(".").map(quoteIdent).join(".");
}

/** The SQLSTATE of a server error, when it is one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether a failure is about the connection or the server's state rather than the statement: no server error
 * code (a socket error, a timeout, "Connection terminated"), class 08 (connection), 57 (shut down, terminated by
 * an administrator), 53 (out of resources), 40 (serialization failure, deadlock: try again), 55P03 (lock not
 * available) and 58 (system error). Retried.
 */
export function isTransient(e: unknown): boolean {
  const state = sqlState(e);
  if (state === undefined) return true;
  return /^(08|57|53|40|58)/.test(state) || state === "55P03" || state === "55006";
}
