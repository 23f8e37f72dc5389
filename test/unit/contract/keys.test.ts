import { expect } from "chai";
import { BUCKET_REGISTRY, BUCKETS } from "../../../engine/contract/buckets.js";
import {
  assignmentKey,
  integrationKey,
  isWorkerId,
  KEY_FORMATS,
  LEASE_KEY,
  parseAssignmentKey,
  parseReplicaKey,
  replicaKey,
  revocationKey,
  STATUS_KEYS,
  tenantKey,
  workerAssignmentsFilter,
} from "../../../engine/contract/keys.js";
import { RECORD_FORMATS } from "../../../engine/contract/records.js";

/** A key format with its placeholders filled in: `<tenant>.<integration>` → `acme.orders`. */
function fill(format: string, values: Record<string, string | number>): string {
  return format.replace(/<([^>]+)>/g, (_, name: string) => String(values[name]));
}

const USER = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

describe("key formats (engine/contract/keys.ts)", () => {
  it("builds each key as its format says", () => {
    const v = { tenant: "acme", integration: "orders-in", replica: 2, "user public key": USER };
    expect(tenantKey("acme")).to.equal(fill(KEY_FORMATS.tenant, v));
    expect(integrationKey("acme", "orders-in")).to.equal(fill(KEY_FORMATS.integration, v));
    expect(replicaKey("acme", "orders-in", 2)).to.equal(fill(KEY_FORMATS.replica, v));
    expect(replicaKey("acme", "orders-in", 2)).to.equal("acme.orders-in.2");
    expect(revocationKey("acme", USER)).to.equal(fill(KEY_FORMATS.revocation, v));
    expect(LEASE_KEY).to.equal("leader");
    expect(STATUS_KEYS).to.deep.equal({ sync: "sync", placement: "placement" });
  });

  it("parses replica keys back", () => {
    expect(parseReplicaKey("acme.orders-in.2")).to.deep.equal({ tenant: "acme", integration: "orders-in", replica: 2 });
    expect(parseReplicaKey("acme.orders")).to.equal(undefined);
    expect(parseReplicaKey("acme.orders.x")).to.equal(undefined);
  });

  it("stores an assignment under its worker (unplaced without one) and parses both layouts", () => {
    expect(assignmentKey("w1", "acme", "orders", 2)).to.equal("assign.w1.acme.orders.2");
    expect(assignmentKey(null, "acme", "orders", 2)).to.equal("unplaced.acme.orders.2");
    const rk = { tenant: "acme", integration: "orders", replica: 2, replicaKey: "acme.orders.2" };
    expect(parseAssignmentKey("assign.w1.acme.orders.2")).to.deep.equal({ ...rk, worker: "w1" });
    expect(parseAssignmentKey("unplaced.acme.orders.2")).to.deep.equal({ ...rk, worker: null });
    expect(parseAssignmentKey("acme.orders.2")).to.deep.equal({ ...rk, worker: undefined });
    expect(parseAssignmentKey("assign.w1.acme.orders")).to.equal(undefined);
    expect(parseAssignmentKey("assign.w1.acme.orders.2.3")).to.equal(undefined);
    // A worker's filter has exactly five tokens: no key of the layout before, whatever its tenant, matches it.
    expect(workerAssignmentsFilter("w1")).to.equal("assign.w1.*.*.*");
  });

  it("takes worker ids that are valid keys, at most 128 characters", () => {
    expect(isWorkerId("w1")).to.equal(true);
    expect(isWorkerId("node-7_a-4242")).to.equal(true);
    expect(isWorkerId("a".repeat(128))).to.equal(true);
    expect(isWorkerId("a".repeat(129))).to.equal(false);
    expect(isWorkerId("host.example")).to.equal(false);
    expect(isWorkerId("-w")).to.equal(false);
  });
});

describe("bucket registry (engine/contract/buckets.ts)", () => {
  it("names every bucket once and stores every record format in some bucket", () => {
    const names = Object.values(BUCKETS);
    expect(new Set(names).size).to.equal(names.length);
    const stored = new Set<string>(Object.values(BUCKET_REGISTRY).flatMap((b) => b.keys.map((k) => k.record)));
    expect(RECORD_FORMATS.filter((f) => !stored.has(f))).to.deep.equal([]);
  });

  it("gives each key of a bucket one record format", () => {
    for (const b of Object.values(BUCKET_REGISTRY)) {
      const keys = b.keys.map((k) => k.key as string);
      expect(new Set(keys).size, `keys of ${b.name}`).to.equal(keys.length);
    }
  });
});
