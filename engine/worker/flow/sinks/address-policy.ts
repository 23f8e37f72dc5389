/**
 * Which network addresses an HTTP sink may connect to (SSRF safety). Pure: the sink's connector asks this about
 * every address it is about to connect to, after DNS resolution, so a name that resolves (or re-resolves) to a
 * forbidden address is caught too.
 *
 * Refused unless the operator allows private networks (`--allow-private-sinks`): loopback, link-local, unspecified,
 * cloud metadata endpoints, multicast and reserved addresses, and the same addresses embedded in IPv6 (IPv4-mapped,
 * IPv4-compatible, NAT64). Private ranges (RFC 1918, shared CGNAT space, IPv6 unique-local) are allowed: integrations
 * legitimately call services inside the network, and those are not the host's own or the cloud's control endpoints.
 */

export type AddressClass =
  "public" | "private" | "loopback" | "link-local" | "unspecified" | "metadata" | "multicast" | "reserved" | "invalid";

/** Classes refused unless private networks are allowed. */
const BLOCKED: ReadonlySet<AddressClass> = new Set([
  "loopback",
  "link-local",
  "unspecified",
  "metadata",
  "multicast",
  "reserved",
  "invalid",
]);

/** Whether an HTTP sink may connect to `address` (an IPv4 or IPv6 literal, without brackets). */
export function isAddressAllowed(address: string, allowPrivateNetworks: boolean): boolean {
  return allowPrivateNetworks || !BLOCKED.has(classifyAddress(address));
}

/** Cloud metadata and host-control endpoints (also when they fall in a range refused anyway). */
const METADATA_V4 = new Set([
  "169.254.169.254", // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack instance metadata
  "169.254.170.2", // AWS ECS task metadata
  "100.100.100.200", // Alibaba Cloud metadata
  "168.63.129.16", // Azure WireServer (host agent)
  "192.0.0.192", // Oracle Cloud classic metadata
]);

type V4Range = readonly [base: number, bits: number, cls: AddressClass];

/** IPv4 ranges, most specific first after the single metadata addresses. */
const V4_RANGES: readonly V4Range[] = [
  [v4("0.0.0.0"), 8, "unspecified"],
  [v4("127.0.0.0"), 8, "loopback"],
  [v4("169.254.0.0"), 16, "link-local"],
  [v4("10.0.0.0"), 8, "private"],
  [v4("172.16.0.0"), 12, "private"],
  [v4("192.168.0.0"), 16, "private"],
  [v4("100.64.0.0"), 10, "private"],
  [v4("224.0.0.0"), 4, "multicast"],
  [v4("240.0.0.0"), 4, "reserved"],
];

/** Classifies an IPv4 or IPv6 literal; anything else is `invalid`. */
export function classifyAddress(address: string): AddressClass {
  const a = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (a.includes(":")) {
    const bytes = parseV6(a);
    return bytes ? classifyV6(bytes) : "invalid";
  }
  const n = parseV4(a);
  return n === undefined ? "invalid" : classifyV4(n);
}

function classifyV4(n: number): AddressClass {
  if (METADATA_V4.has(v4Text(n))) return "metadata";
  for (const [base, bits, cls] of V4_RANGES) if (inV4(n, base, bits)) return cls;
  return "public";
}

function classifyV6(b: Uint8Array): AddressClass {
  const w = (i: number) => (b[2 * i]! << 8) | b[2 * i + 1]!;
  const embedded = () => ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
  const zeroUpTo = (n: number) => b.subarray(0, n).every((x) => x === 0);
  if (zeroUpTo(16)) return "unspecified";
  if (zeroUpTo(15) && b[15] === 1) return "loopback";
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible): the IPv4 address decides.
  if (zeroUpTo(10) && w(5) === 0xffff) return classifyV4(embedded());
  if (zeroUpTo(8) && w(4) === 0xffff && w(5) === 0) return classifyV4(embedded());
  if (zeroUpTo(12)) return classifyV4(embedded());
  // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48): a gateway turns these into the IPv4 address.
  if (w(0) === 0x64 && w(1) === 0xff9b && (w(2) === 1 || b.subarray(4, 12).every((x) => x === 0)))
    return classifyV4(embedded());
  // AWS (fd00:ec2::/32: metadata, DNS, time) and GCP (fd20:ce::254) internal service addresses.
  if (w(0) === 0xfd00 && w(1) === 0x0ec2) return "metadata";
  if (w(0) === 0xfd20 && w(1) === 0x00ce && b.subarray(4, 14).every((x) => x === 0) && w(7) === 0x254)
    return "metadata";
  if ((b[0]! & 0xfe) === 0xfc) return "private"; // fc00::/7 unique local
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return "link-local"; // fe80::/10
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return "private"; // fec0::/10 site-local (deprecated)
  if (b[0] === 0xff) return "multicast";
  return "public";
}

function v4(text: string): number {
  const n = parseV4(text);
  if (n === undefined) throw new Error(`bad IPv4 literal in the address policy: ${text}`);
  return n;
}

function inV4(n: number, base: number, bits: number): boolean {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (n & mask) >>> 0 === (base & mask) >>> 0;
}

function v4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Strict dotted-quad IPv4 (four decimal parts 0-255, no leading zeros) as an unsigned 32-bit number. */
export function parseV4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** An IPv6 literal (with `::` and an optional dotted IPv4 tail; no zone id) as 16 bytes. */
export function parseV6(text: string): Uint8Array | undefined {
  if (text.includes("%")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const n = parseV4(p);
        if (n === undefined) return undefined;
        out.push(n >>> 16, n & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const words = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >>> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}
