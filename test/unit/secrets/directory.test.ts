import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirectorySecretProvider } from "../../../engine/secrets/directory.js";
import { asyncCodeOf } from "../../helpers/codes.js";

describe("secrets: directory provider (<dir>/<tenant>/<name>)", () => {
  let base: string;
  let dir: string;
  let p: DirectorySecretProvider;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "vrsky-secrets-dir-"));
    dir = join(base, "secrets");
    mkdirSync(join(dir, "acme"), { recursive: true });
    mkdirSync(join(dir, "globex"), { recursive: true });
    writeFileSync(join(dir, "acme", "db"), "s3cret\n");
    writeFileSync(join(dir, "globex", "db"), "globex-only");
    p = new DirectorySecretProvider(dir);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("gives the file's bytes as they are (nothing trimmed)", async () => {
    expect((await p.resolve("acme", "db")).revealText()).to.equal("s3cret\n");
    expect(await p.has("acme", "db")).to.equal(true);
  });

  it("a missing secret or tenant folder is VRS_SECRET_MISSING; has() says false", async () => {
    expect(await asyncCodeOf(p.resolve("acme", "nope"))).to.equal("VRS_SECRET_MISSING");
    expect(await asyncCodeOf(p.resolve("initech", "db"))).to.equal("VRS_SECRET_MISSING");
    expect(await p.has("acme", "nope")).to.equal(false);
    mkdirSync(join(dir, "acme", "folder"));
    expect(await asyncCodeOf(p.resolve("acme", "folder"))).to.equal("VRS_SECRET_MISSING");
  });

  it("follows links inside the tenant's folder (a mounted Kubernetes Secret)", async () => {
    mkdirSync(join(dir, "acme", "..2026_01_01"));
    writeFileSync(join(dir, "acme", "..2026_01_01", "token"), "tok");
    symlinkSync("..2026_01_01", join(dir, "acme", "..data"));
    symlinkSync("..data/token", join(dir, "acme", "token"));
    expect((await p.resolve("acme", "token")).revealText()).to.equal("tok");
  });

  it("refuses a link out of the tenant's folder, into another tenant's or anywhere else (VRS_SECRET_OUTSIDE)", async () => {
    symlinkSync("../globex/db", join(dir, "acme", "stolen"));
    writeFileSync(join(base, "outside"), "x");
    symlinkSync(join(base, "outside"), join(dir, "acme", "abs"));
    expect(await asyncCodeOf(p.resolve("acme", "stolen"))).to.equal("VRS_SECRET_OUTSIDE");
    expect(await asyncCodeOf(p.resolve("acme", "abs"))).to.equal("VRS_SECRET_OUTSIDE");
    expect(await asyncCodeOf(p.has("acme", "stolen"))).to.equal("VRS_SECRET_OUTSIDE");
  });

  it("refuses a tenant folder that is a link (it could be another tenant's)", async () => {
    symlinkSync("globex", join(dir, "initech"));
    expect(await asyncCodeOf(p.resolve("initech", "db"))).to.equal("VRS_SECRET_OUTSIDE");
  });

  it("a broken link is a missing secret", async () => {
    symlinkSync("gone", join(dir, "acme", "broken"));
    expect(await asyncCodeOf(p.resolve("acme", "broken"))).to.equal("VRS_SECRET_MISSING");
  });

  it("refuses names that are not DNS labels before touching a file (VRS_NAME_INVALID)", async () => {
    for (const [tenant, name] of [
      ["acme", "../globex/db"],
      ["acme", ".."],
      ["acme", "/etc/passwd"],
      ["acme", "a/b"],
      ["..", "db"],
      ["acme/../globex", "db"],
      ["", "db"],
      ["acme", ""],
      ["Acme", "db"],
    ] as const) {
      expect(await asyncCodeOf(p.resolve(tenant, name)), `${tenant} ${name}`).to.equal("VRS_NAME_INVALID");
      expect(await asyncCodeOf(p.has(tenant, name)), `${tenant} ${name}`).to.equal("VRS_NAME_INVALID");
    }
  });
});
