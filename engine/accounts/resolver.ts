/**
 * Talks to the NATS servers' account resolver (operator mode, `resolver: { type: full }`) as the system user.
 *
 * Every server of a cluster answers `$SYS.REQ.CLAIMS.UPDATE` / `.DELETE`, so requests collect many replies: until
 * the number of servers seen by `$SYS.REQ.SERVER.PING` have answered, or until no reply came for a short window.
 * A reply `{ error: { description } }` is a failure with the server's message. A 200 does not prove the JWT is
 * trusted (the issuer is checked when a user connects); a lookup proves the resolver holds it.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { decodeJwt } from "./jwt.js";
import { deleteAccountsJwt } from "./claims.js";
import type { VrskyKeys } from "./keys.js";

export interface ServerReply {
  server: string;
  ok: boolean;
  /** The server's message, or its error description. */
  message: string;
}

export interface ResolverResult {
  /** The account (push) or "" (delete). */
  account: string;
  /** Every server acknowledged and none reported an error. */
  ok: boolean;
  /** Servers that acknowledged with success. */
  acks: number;
  /** Servers expected to answer (as last discovered). */
  servers: number;
  replies: ServerReply[];
  /** Failure reasons (server messages, or "no reply"). */
  errors: string[];
}

export interface ResolverClientOptions {
  /** The installation's keys: needed by `delete` (the request is signed by the operator). */
  keys?: VrskyKeys;
  /** Longest wait for replies to one request. Default 5000 ms. */
  timeoutMs?: number;
  /** Without a known server count: stop collecting when no reply came for this long. Default 250 ms. */
  windowMs?: number;
  /** Known number of servers; default: discovered with `$SYS.REQ.SERVER.PING` (cached for `serverCacheMs`). */
  servers?: number;
  serverCacheMs?: number;
}

interface ClaimsReply {
  server?: { name?: string; id?: string };
  data?: { account?: string; code?: number; message?: string };
  error?: { account?: string; code?: number; description?: string };
}

/** Resolver operations over a connection authenticated as a system-account user (sys.creds). */
export class ResolverClient {
  private known: { n: number; at: number } | undefined;
  private readonly timeoutMs: number;
  private readonly windowMs: number;

  constructor(
    readonly nc: NatsConnection,
    private readonly o: ResolverClientOptions = {},
  ) {
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.windowMs = o.windowMs ?? 250;
    if (o.servers !== undefined) this.known = { n: o.servers, at: Infinity };
  }

  /** Connects as the system user of `keys` (sys.creds) and returns a client; close it with `close()`. */
  static async connect(
    keys: VrskyKeys,
    servers: string | string[],
    o: Omit<ResolverClientOptions, "keys"> = {},
  ): Promise<ResolverClient> {
    let sysCreds: Buffer;
    try {
      sysCreds = readFileSync(keys.files.sysCreds);
    } catch (e) {
      throw new VrskyError("VRS_KEYS_MISSING", `cannot read ${keys.files.sysCreds}: ${errorMessage(e)}`, { cause: e });
    }
    try {
      const nc = await connect({
        servers,
        name: "vrsky-resolver",
        authenticator: credsAuthenticator(sysCreds),
        noAsyncTraces: true, // one request per account pushed: no stack trace built up front for each (connect.ts)
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
      return new ResolverClient(nc, { ...o, keys });
    } catch (e) {
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        `cannot connect as the system user to ${String(servers)}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  /** How many servers answer system requests (the cluster size), cached. */
  async servers(refresh = false): Promise<number> {
    const cacheMs = this.o.serverCacheMs ?? 30_000;
    if (!refresh && this.known) {
      // A stale count is still the best guess: use it now and refresh in the background, so a run never waits
      // for the ping's silence window once the count is known.
      if (Date.now() - this.known.at >= cacheMs && !this.refreshing) {
        this.refreshing = this.ping()
          .catch(() => this.known!.n)
          .finally(() => (this.refreshing = undefined));
      }
      return this.known.n;
    }
    return this.ping();
  }

  private refreshing: Promise<number> | undefined;

  private async ping(): Promise<number> {
    const msgs = await this.collect("$SYS.REQ.SERVER.PING", new Uint8Array(0), undefined);
    const ids = new Set(msgs.map((m) => m.json<{ server?: { id?: string } }>().server?.id ?? ""));
    if (ids.size === 0)
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        "no NATS server answered $SYS.REQ.SERVER.PING: is this connection a system-account user (sys.creds)?",
      );
    this.known = { n: ids.size, at: Date.now() };
    return ids.size;
  }

  /** Pushes one account JWT; throws VRS_ACCOUNT_PUSH_FAILED unless every server acknowledged it. */
  async push(jwt: string): Promise<ResolverResult> {
    const [r] = await this.pushMany([jwt]);
    if (!r!.ok) throw new VrskyError("VRS_ACCOUNT_PUSH_FAILED", `account ${r!.account}: ${r!.errors.join("; ")}`);
    return r!;
  }

  /** Pushes many account JWTs, all requests in flight at once. Never throws for one account: see each `ok`. */
  async pushMany(jwts: string[]): Promise<ResolverResult[]> {
    if (jwts.length === 0) return [];
    const servers = await this.servers();
    return Promise.all(
      jwts.map(async (jwt) => {
        const claims = decodeJwt(jwt, false);
        const account = claims.sub;
        // The resolver answers 200 to a JWT of any issuer (trust is checked when a user connects): refuse here.
        const operator = this.o.keys?.operator.getPublicKey();
        if (operator && claims.iss !== operator) {
          return {
            account,
            ok: false,
            acks: 0,
            servers,
            replies: [],
            errors: [`issued by ${claims.iss}, not by this installation's operator ${operator}`],
          };
        }
        const msgs = await this.collect("$SYS.REQ.CLAIMS.UPDATE", new TextEncoder().encode(jwt), servers);
        return summarise(account, servers, msgs);
      }),
    );
  }

  /**
   * Deletes accounts from the resolver (an operator-signed request); their connected users are disconnected at
   * once. Purge their JetStream data first (`purgeTenantJetStream`). Throws VRS_ACCOUNT_DELETE_FAILED.
   */
  async delete(accountPubs: string[]): Promise<ResolverResult> {
    // A caller's bug, not a user's mistake: ResolverClient.connect always passes the keys.
    if (!this.o.keys) throw new Error("ResolverClient.delete needs the keys (options.keys) to sign the request");
    if (accountPubs.length === 0) return { account: "", ok: true, acks: 0, servers: 0, replies: [], errors: [] };
    const servers = await this.servers();
    const msgs = await this.collect(
      "$SYS.REQ.CLAIMS.DELETE",
      new TextEncoder().encode(deleteAccountsJwt(this.o.keys, accountPubs)),
      servers,
    );
    const r = summarise("", servers, msgs);
    if (!r.ok) throw new VrskyError("VRS_ACCOUNT_DELETE_FAILED", r.errors.join("; "));
    return r;
  }

  /** The JWT the resolver holds for an account, or undefined when it holds none (e.g. deleted, never pushed). */
  async lookup(accountPub: string): Promise<string | undefined> {
    return (await this.lookupMany([accountPub]))[0];
  }

  /**
   * `lookup` for many accounts at once: one `CLAIMS.LIST`, then lookups (in flight together) of the accounts
   * listed. A server does not answer a lookup of an account it lacks, so listing first keeps "absent" fast.
   */
  async lookupMany(accountPubs: string[]): Promise<Array<string | undefined>> {
    if (accountPubs.length === 0) return [];
    const held = new Set(await this.list());
    return Promise.all(
      accountPubs.map(async (p) => (held.has(p) ? (await this.lookupAll(p)).find((j) => j !== undefined) : undefined)),
    );
  }

  /**
   * What each answering server holds for an account: resolver drift per server. Servers that lack the account
   * stay silent (nats-server 2.9), so this waits up to 2 s unless every server answered.
   */
  async lookupAll(accountPub: string): Promise<Array<string | undefined>> {
    const servers = await this.servers();
    const msgs = await this.collect(`$SYS.REQ.ACCOUNT.${accountPub}.CLAIMS.LOOKUP`, new Uint8Array(0), servers, true);
    return msgs.map((m) => {
      const text = m.string().trim();
      return text.split(".").length === 3 && !text.startsWith("{") ? text : undefined;
    });
  }

  /** Account public keys the resolver holds (`$SYS.REQ.CLAIMS.LIST`, union over servers). */
  async list(): Promise<string[]> {
    const servers = await this.servers();
    const msgs = await this.collect("$SYS.REQ.CLAIMS.LIST", new Uint8Array(0), servers);
    const out = new Set<string>();
    for (const m of msgs) {
      const r = m.json<{ data?: string[]; error?: { description?: string } }>();
      if (r.error) throw new VrskyError("VRS_NATS_UNAVAILABLE", `claims list: ${r.error.description}`);
      for (const a of r.data ?? []) out.add(a);
    }
    return [...out].sort();
  }

  /**
   * Sends one request and collects replies: `expected` of them (then it ends at once) or, when the count is
   * unknown, until no reply came for the window. `tolerateTimeout` ends quietly when servers stay silent.
   */
  private async collect(
    subject: string,
    data: Uint8Array,
    expected: number | undefined,
    tolerateTimeout = false,
  ): Promise<Msg[]> {
    const out: Msg[] = [];
    try {
      const iter = await this.nc.requestMany(
        subject,
        data,
        expected === undefined
          ? { strategy: "stall", stall: this.windowMs, maxWait: this.timeoutMs }
          : {
              strategy: "count",
              maxMessages: expected,
              maxWait: tolerateTimeout ? Math.min(this.timeoutMs, 2000) : this.timeoutMs,
            },
      );
      for await (const m of iter) out.push(m);
    } catch (e) {
      if (out.length === 0 && !tolerateTimeout) {
        throw new VrskyError(
          "VRS_NATS_UNAVAILABLE",
          `${subject.split(".").slice(0, 4).join(".")}: ${errorMessage(e)}`,
          { cause: e },
        );
      }
    }
    return out;
  }
}

function summarise(account: string, servers: number, msgs: Msg[]): ResolverResult {
  const replies: ServerReply[] = msgs.map((m) => {
    let r: ClaimsReply;
    try {
      r = m.json<ClaimsReply>();
    } catch {
      return { server: "?", ok: false, message: `unreadable reply: ${m.string().slice(0, 200)}` };
    }
    const server = r.server?.name ?? r.server?.id ?? "?";
    if (r.error) return { server, ok: false, message: r.error.description ?? `error ${r.error.code}` };
    return { server, ok: r.data?.code === undefined || r.data.code < 300, message: r.data?.message ?? "" };
  });
  const acks = replies.filter((r) => r.ok).length;
  const errors = replies.filter((r) => !r.ok).map((r) => `${r.server}: ${r.message}`);
  if (acks + errors.length < servers)
    errors.push(`${servers - acks - errors.length} of ${servers} servers did not reply`);
  return { account, ok: errors.length === 0 && acks >= servers, acks, servers, replies, errors };
}

/**
 * Deletes every stream of the account the connection is in, KV buckets (`KV_*`) and object stores included:
 * do this before deleting an account, whose JetStream data would otherwise stay on the servers' disks.
 * Returns the names deleted.
 */
export async function purgeTenantJetStream(nc: NatsConnection): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  await Promise.all(names.map((n) => jsm.streams.delete(n)));
  return names.sort();
}
