/**
 * The reconciler's check that the secrets an integration references can be used: each is resolved (decrypted) to
 * prove it, and the value dropped at once. A run resolves each secret once however many integrations share it,
 * and a forced run (resync) only asks whether a secret that already resolved at the same revision is still there:
 * decrypting every secret of every integration at every resync cost more than the rest of the run.
 */
import { errorMessage, isVrskyError } from "../errors/errors.js";
import type { SecretSource } from "../secrets/sources.js";
import type { SecretsFound } from "./integration-conditions.js";

type Outcome =
  { kind: "ok" } | { kind: "missing" } | { kind: "unreadable"; message: string } | { kind: "failed"; message: string };

export class SecretChecks {
  /** Secrets (tenant, name, revision) that resolved; a resync only checks that they still exist. */
  private readonly resolved = new Set<string>();
  private run = new Map<string, Promise<Outcome>>();

  constructor(private readonly source: SecretSource) {}

  /** A new run: secrets are looked at again (once each). */
  beginRun(): void {
    this.run = new Map();
  }

  async check(tenant: string, names: readonly string[], revision: string): Promise<SecretsFound> {
    const found: SecretsFound = { missing: [], unreadable: [] };
    const outcomes = await Promise.all(names.map((name) => this.outcome(tenant, name, revision)));
    outcomes.forEach((o, i) => {
      const name = names[i]!;
      if (o.kind === "missing") found.missing.push(name);
      else if (o.kind === "unreadable") found.unreadable.push({ name, message: o.message });
      else if (o.kind === "failed") found.failed = `secret '${name}': ${o.message}`;
    });
    return found;
  }

  /** Forgets what was resolved for `tenant` (its secrets were removed with it). */
  forgetTenant(tenant: string): void {
    for (const k of this.resolved) if (k.startsWith(`${tenant}\0`)) this.resolved.delete(k);
  }

  private outcome(tenant: string, name: string, revision: string): Promise<Outcome> {
    const key = `${tenant}\0${name}\0${revision}`;
    let p = this.run.get(key);
    if (!p) {
      p = this.look(key, tenant, name, revision);
      this.run.set(key, p);
    }
    return p;
  }

  private async look(key: string, tenant: string, name: string, revision: string): Promise<Outcome> {
    try {
      if (this.resolved.has(key)) {
        if (await this.source.has(tenant, name, revision)) return { kind: "ok" };
        this.resolved.delete(key);
        return { kind: "missing" };
      }
      // Resolved to prove it can be used (decrypts), then dropped: the value goes nowhere.
      await this.source.resolve(tenant, name, revision);
      this.resolved.add(key);
      return { kind: "ok" };
    } catch (e) {
      this.resolved.delete(key);
      if (isVrskyError(e) && e.code === "VRS_SECRET_MISSING") return { kind: "missing" };
      if (isVrskyError(e) && e.code.startsWith("VRS_SECRET_")) return { kind: "unreadable", message: e.message };
      return { kind: "failed", message: errorMessage(e) };
    }
  }
}
