/**
 * The address a server of the engine binds (`--listen`, `--gateway-listen`, `--receiver-listen`), one parser for
 * every command (docs/cli.md, "Listen addresses"):
 *
 *   host:port      an IPv4 address or a host name (`127.0.0.1:9464`, `localhost:9464`)
 *   [ipv6]:port    an IPv6 address in brackets (`[::1]:9464`)
 *   :port          every interface, IPv4 and IPv6 where the machine has IPv6
 *   port           loopback only (`127.0.0.1`)
 *
 * Port 0 picks a free port. `parseListen` does no I/O, so a command checks it with its other flags before it
 * connects anywhere; `listenFailure` turns a bind error into one line a user can act on.
 */
import { isIP, isIPv4, isIPv6, type AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { printable } from "./printable.js";

export interface ListenAddress {
  /** As given. */
  text: string;
  /** An IP address or a host name; undefined: every interface. */
  host: string | undefined;
  port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const FORMS = "use host:port, [ipv6]:port, :port (every interface) or port (loopback), e.g. 127.0.0.1:9464";

/** Parses a listen address; VRS_USAGE naming `flag` when it is not one. */
export function parseListen(text: string, flag = "--listen"): ListenAddress {
  const bad = (why: string) =>
    new VrskyError("VRS_USAGE", `${flag} '${printable(text)}' is not a listen address (${why}); ${FORMS}`);
  let host: string | undefined;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (/^\d+$/.test(text)) {
    host = "127.0.0.1";
    portText = text;
  } else if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (!isIPv6(host)) throw bad(`'${printable(host)}' is not an IPv6 address`);
  } else {
    const i = text.lastIndexOf(":");
    if (i < 0) throw bad("no port");
    host = text.slice(0, i) || undefined;
    portText = text.slice(i + 1);
    if (host?.includes(":")) throw bad("an IPv6 address goes in brackets, e.g. [::1]:9464");
    if (host !== undefined && !isIPv4(host) && (isIP(host) !== 0 || !HOST_NAME.test(host)))
      throw bad(`'${printable(host)}' is neither an IP address nor a host name`);
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65_535) throw bad("the port must be a whole number from 0 to 65535");
  return { text, host, port };
}

/**
 * The host to hand to `listen()`: every interface is `::` (which takes IPv4 too) where the machine has IPv6,
 * `0.0.0.0` where it has none.
 */
export function bindHost(a: ListenAddress): string {
  if (a.host !== undefined) return a.host;
  const ipv6 = Object.values(networkInterfaces()).some((list) => list?.some((n) => n.family === "IPv6"));
  return ipv6 ? "::" : "0.0.0.0";
}

/** `http://host:port` of a bound server (IPv6 in brackets). */
export function httpUrl(a: AddressInfo): string {
  return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
}

/** A bind error as VRS_LISTEN_FAILED, one line naming the flag and what to do. */
export function listenFailure(flag: string, a: ListenAddress, e: unknown): VrskyError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === "EADDRINUSE"
      ? `port ${a.port} is already in use; stop what holds it or choose another port (0: any free one)`
      : code === "EADDRNOTAVAIL"
        ? `${a.host ?? "that address"} is not an address of this machine`
        : code === "EACCES"
          ? `not allowed to bind port ${a.port} (ports below 1024 need privileges)`
          : code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? `host name ${a.host ?? ""} does not resolve`
            : errorMessage(e);
  return new VrskyError("VRS_LISTEN_FAILED", `cannot serve ${flag} ${printable(a.text)}: ${why}`, { cause: e });
}
