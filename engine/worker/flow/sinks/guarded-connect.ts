/**
 * The undici connector of an HTTP sink that enforces the address policy (address-policy.ts) at connect time: a host
 * name is resolved by our own lookup, which drops every forbidden address before the socket sees it, and an address
 * literal is checked before connecting. Deciding on the resolved address, per connection, means DNS rebinding (a
 * name that first resolves to a public address, then to 169.254.169.254) cannot get past it.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { buildConnector } from "undici";
import { classifyAddress, isAddressAllowed, type AddressClass } from "./address-policy.js";

/** A connection refused by the address policy. */
export class AddressBlockedError extends Error {
  readonly code = "VRS_SINK_ADDRESS_BLOCKED";
  constructor(
    /** The host as the URL names it. */
    readonly host: string,
    /** What it resolved to, each with its class. */
    readonly refused: ReadonlyArray<{ address: string; class: AddressClass }>,
  ) {
    super(`${host} resolves only to addresses that are not allowed`);
    this.name = "AddressBlockedError";
  }
}

export interface GuardOptions {
  allowPrivateNetworks: boolean;
  /** Connect timeout (TCP and TLS handshake), ms. */
  connectTimeoutMs: number;
}

/** A connector for an undici Agent: plain when private networks are allowed, guarded otherwise. */
export function guardedConnector(o: GuardOptions): buildConnector.connector {
  if (o.allowPrivateNetworks) return buildConnector({ timeout: o.connectTimeoutMs });
  const base = buildConnector({ timeout: o.connectTimeoutMs, lookup: guardedLookup });
  return (opts, callback) => {
    const host = unbracket(opts.hostname);
    if (isIP(host) !== 0 && !isAddressAllowed(host, false)) {
      const err = new AddressBlockedError(host, [{ address: host, class: classifyAddress(host) }]);
      process.nextTick(() => callback(err, null));
      return;
    }
    base(opts, callback);
  };
}

/** dns.lookup, keeping only the addresses the policy allows; none left is an AddressBlockedError. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  const opts: LookupOptions = typeof options === "number" ? { family: options } : { ...options };
  dnsLookup(hostname, { ...opts, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, "", 0);
    const allowed = addresses.filter((a) => isAddressAllowed(a.address, false));
    if (allowed.length === 0) {
      const refused = addresses.map((a) => ({ address: a.address, class: classifyAddress(a.address) }));
      return callback(new AddressBlockedError(hostname, refused), "", 0);
    }
    if (opts.all) return callback(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
