import { expect } from "chai";
import { deletionGuardMessage, overDeletionLimits } from "../../../engine/plan/deletion-guard.js";
import type { Write } from "../../../engine/reconciler/live-plan.js";

const del = (bucket: Write["bucket"], key: string): Write => ({ action: "delete", bucket, key });
const limits = { tenants: 0.5, integrations: 0.5 };

describe("deletion guard arithmetic", () => {
  it("counts the integrations deleted from tenants that stay against the live integrations", () => {
    const writes = ["a", "b", "c"].map((n) => del("integrations", `acme.${n}`));
    expect(overDeletionLimits(writes, { tenants: 2, integrations: 4 }, limits)).to.deep.equal([
      { what: "integrations", deletes: 3, live: 4, allowed: 2, share: 0.5 },
    ]);
    expect(overDeletionLimits(writes.slice(0, 2), { tenants: 2, integrations: 4 }, limits)).to.deep.equal([]);
  });

  it("leaves the integrations of a deleted tenant to the tenant guard", () => {
    const writes = [del("tenants", "acme"), ...["a", "b", "c"].map((n) => del("integrations", `acme.${n}`))];
    expect(overDeletionLimits(writes, { tenants: 2, integrations: 4 }, limits)).to.deep.equal([]);
    const both = [...writes, del("tenants", "beta"), del("integrations", "gamma.x")];
    expect(overDeletionLimits(both, { tenants: 3, integrations: 5 }, limits).map((o) => o.what)).to.deep.equal([
      "tenants",
    ]);
  });

  it("always allows one deletion of each, and follows each share", () => {
    expect(overDeletionLimits([del("integrations", "acme.a")], { tenants: 1, integrations: 1 }, limits)).to.deep.equal(
      [],
    );
    const writes = ["a", "b"].map((n) => del("integrations", `acme.${n}`));
    expect(
      overDeletionLimits(writes, { tenants: 1, integrations: 2 }, { tenants: 0.5, integrations: 1 }),
    ).to.deep.equal([]);
    expect(overDeletionLimits(writes, { tenants: 1, integrations: 2 }, { tenants: 1, integrations: 0 })).to.have.length(
      1,
    );
  });

  it("says what is over and how to proceed", () => {
    const over = overDeletionLimits(
      [del("tenants", "a"), del("tenants", "b"), del("integrations", "c.x"), del("integrations", "c.y")],
      { tenants: 3, integrations: 3 },
      limits,
    );
    expect(deletionGuardMessage("f".repeat(40), over)).to.equal(
      "revision ffffffffffff deletes 2 of 3 tenants; the guard allows 1 (share 0.5), and deletes 2 of 3 integrations of tenants that stay; the guard allows 1 (share 0.5). Nothing applied. To proceed, add the trailer 'Vrsky-Allow-Prune: true' to the commit message or run with --allow-prune.",
    );
  });
});
