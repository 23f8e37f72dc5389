/**
 * Bech32 encoding (BIP 173), as age writes its keys. `age-encryption` generates identities only through a promise;
 * `vrsky init` writes its key folder synchronously, so it encodes the identity here (tests check that the library
 * reads what this writes).
 */
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk;
}

function toWords(bytes: Uint8Array): number[] {
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >>> bits) & 31);
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  return words;
}

/** `hrp` + "1" + data + checksum, lower case (age upper-cases identities itself). */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const prefix = hrp.toLowerCase();
  const words = toWords(bytes);
  const expanded = [...prefix].map((c) => c.charCodeAt(0) >> 5);
  expanded.push(0, ...[...prefix].map((c) => c.charCodeAt(0) & 31));
  const mod = polymod([...expanded, ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return prefix + "1" + [...words, ...checksum].map((w) => CHARSET[w]).join("");
}
