import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KEY_FILES } from "../../../engine/accounts/keys.js";

/** Every secret string of a key directory: seeds, the master secret, the user seeds inside creds, the age identity. */
export function secretsOf(dir: string): string[] {
  const out: string[] = [];
  for (const f of [
    KEY_FILES.operatorSeed,
    KEY_FILES.systemAccountSeed,
    KEY_FILES.platformAccountSeed,
    KEY_FILES.master,
  ]) {
    out.push(readFileSync(join(dir, f), "utf8").trim());
  }
  for (const f of [KEY_FILES.sysCreds, KEY_FILES.platformCreds]) out.push(seedIn(readFileSync(join(dir, f), "utf8"))!);
  const age = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(readFileSync(join(dir, KEY_FILES.secretsIdentity), "utf8"))?.[0];
  if (!age) throw new Error(`no age identity in ${KEY_FILES.secretsIdentity}`);
  out.push(age);
  return out;
}

/** The nkey seed inside a creds text. */
export function seedIn(creds: string): string | undefined {
  return /S[A-Z2-7]{57}/.exec(creds)?.[0];
}
