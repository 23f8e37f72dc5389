import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretChecks } from "../../../engine/reconciler/secret-checks.js";
import { secretSource, type SecretSource } from "../../../engine/secrets/sources.js";

/** A real directory source that counts what it is asked. */
function counted(dir: string): SecretSource & { resolves: number; lookups: number } {
  const inner = secretSource({ secretsDir: dir });
  const s = {
    resolves: 0,
    lookups: 0,
    configured: true,
    resolve: (t: string, n: string, r: string) => (s.resolves++, inner.resolve(t, n, r)),
    has: (t: string, n: string, r: string) => (s.lookups++, inner.has(t, n, r)),
  };
  return s;
}

describe("reconciler: secret checks (resolve once, a resync only looks)", () => {
  let base: string;
  let source: ReturnType<typeof counted>;
  let checks: SecretChecks;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "vrsky-secret-checks-"));
    mkdirSync(join(base, "acme"));
    writeFileSync(join(base, "acme", "hook"), "h");
    writeFileSync(join(base, "acme", "token"), "t");
    source = counted(base);
    checks = new SecretChecks(source);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("a run resolves each secret once, however many integrations share it", async () => {
    checks.beginRun();
    const found = await Promise.all([
      checks.check("acme", ["hook", "token"], "r1"),
      checks.check("acme", ["hook"], "r1"),
      checks.check("acme", ["token", "nope"], "r1"),
    ]);
    expect(source.resolves).to.equal(3);
    expect(found[0]).to.deep.equal({ missing: [], unreadable: [] });
    expect(found[2]).to.deep.equal({ missing: ["nope"], unreadable: [] });
  });

  it("a later run only asks whether a resolved secret is still there, and notices when it is gone", async () => {
    checks.beginRun();
    await checks.check("acme", ["hook", "token"], "r1");
    expect(source.resolves).to.equal(2);
    checks.beginRun();
    expect(await checks.check("acme", ["hook", "token"], "r1")).to.deep.equal({ missing: [], unreadable: [] });
    expect(source.resolves).to.equal(2);
    expect(source.lookups).to.equal(2);
    rmSync(join(base, "acme", "token"));
    checks.beginRun();
    expect(await checks.check("acme", ["hook", "token"], "r1")).to.deep.equal({ missing: ["token"], unreadable: [] });
    // It comes back: resolved (decrypted) again before it counts as usable.
    writeFileSync(join(base, "acme", "token"), "t2");
    checks.beginRun();
    expect(await checks.check("acme", ["token"], "r1")).to.deep.equal({ missing: [], unreadable: [] });
    expect(source.resolves).to.equal(3);
  });

  it("another revision is resolved again (a sealed secret may differ between commits)", async () => {
    checks.beginRun();
    await checks.check("acme", ["hook"], "r1");
    checks.beginRun();
    await checks.check("acme", ["hook"], "r2");
    expect(source.resolves).to.equal(2);
  });
});
