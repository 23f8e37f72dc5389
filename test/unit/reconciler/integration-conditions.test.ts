import { expect } from "chai";
import { JetStreamApiError } from "@nats-io/jetstream";
import { VrskyError } from "../../../engine/errors/errors.js";
import {
  integrationStatus,
  limitsContext,
  sameStatus,
  secretsCondition,
  STREAMS_CREATED,
  streamsFailure,
} from "../../../engine/reconciler/integration-conditions.js";
import { TENANT_LIMIT_DEFAULTS } from "../../../engine/accounts/claims.js";

const apiError = (code: number, description = "x") =>
  new JetStreamApiError({ code: code === 10047 ? 500 : 400, err_code: code, description });

describe("integration conditions: what the streams step found, as a status record", () => {
  const limits = limitsContext({ ...TENANT_LIMIT_DEFAULTS, streams: 2 }, 3);

  it("a JetStream limit is StreamLimits naming the limit and what to do, never retried on a timer", () => {
    const count = streamsFailure(apiError(10027, "maximum number of streams reached"), limits);
    expect(count.retry).to.equal(false);
    expect(count.state).to.include({ status: "False", reason: "StreamLimits" });
    expect(count.state.message).to.equal(
      "maximum number of streams reached: 2 (spec.limits.jetstream.streams); each integration needs 3 (ingest, dead letters, large payloads) and the tenant 1 (traces), so 3 integration(s) need 10. Raise spec.limits.jetstream.streams or remove integrations",
    );
    for (const code of [10026, 10028, 10047, 10023])
      expect(streamsFailure(apiError(code), limits).state.reason, String(code)).to.equal("StreamLimits");
    expect(streamsFailure(apiError(10047), limits).state.message).to.include("storageBytes");
    const shared = streamsFailure(apiError(10027), limitsContext(undefined, 1)).state.message;
    expect(shared).to.include("the shared account's JetStream limits");
  });

  it("another refusal is StreamsRefused; NATS and tenants out of reach are retried", () => {
    expect(streamsFailure(apiError(10058, "stream name already in use"), limits)).to.deep.equal({
      state: {
        status: "False",
        reason: "StreamsRefused",
        message: "JetStream refused the integration's streams: stream name already in use (10058)",
      },
      retry: false,
    });
    const timeout = streamsFailure(new Error("TIMEOUT"), limits);
    expect(timeout).to.deep.include({ retry: true });
    expect(timeout.state.reason).to.equal("NatsUnavailable");
    const tenant = streamsFailure(new VrskyError("VRS_TENANT_UNAVAILABLE", "tenant a has no server"), limits);
    expect(tenant.state).to.deep.equal({
      status: "False",
      reason: "TenantUnavailable",
      message: "tenant a has no server",
    });
  });

  it("secrets: none, not checked, missing by name, unreadable, resolved", () => {
    expect(secretsCondition("acme", [], "no-source")).to.deep.include({ status: "True", reason: "NoSecrets" });
    expect(secretsCondition("acme", ["a"], "no-source")).to.deep.include({ status: "Unknown", reason: "NotChecked" });
    const missing = secretsCondition("acme", ["a", "b"], { missing: ["a", "b"], unreadable: [] });
    expect(missing).to.deep.include({ status: "False", reason: "SecretMissing" });
    expect(missing.message).to.match(/^tenant acme has no secret 'a', 'b':/);
    const bad = secretsCondition("acme", ["a"], { missing: [], unreadable: [{ name: "a", message: "damaged" }] });
    expect(bad).to.deep.equal({ status: "False", reason: "SecretUnreadable", message: "damaged" });
    expect(secretsCondition("acme", ["a"], { missing: [], unreadable: [] })).to.deep.include({ reason: "Resolved" });
  });

  it("Ready needs streams and no failing secret; Degraded says what is False; since carries over", () => {
    const at = (streams = STREAMS_CREATED, secrets = secretsCondition("acme", [], "no-source"), prev?: never) =>
      integrationStatus(prev, { tenant: "acme", integration: "orders", revision: "r1", streams, secrets }, "T1");
    const ok = at();
    expect(ok.conditions.map((c) => [c.type, c.status, c.reason])).to.deep.equal([
      ["StreamsReady", "True", "Created"],
      ["SecretsResolved", "True", "NoSecrets"],
      ["Ready", "True", "Ready"],
      ["Degraded", "False", "AsExpected"],
    ]);
    const unchecked = at(STREAMS_CREATED, secretsCondition("acme", ["a"], "no-source"));
    expect(unchecked.conditions.find((c) => c.type === "Ready")?.status, "an unchecked secret").to.equal("True");
    const missing = secretsCondition("acme", ["a"], { missing: ["a"], unreadable: [] });
    const later = integrationStatus(
      ok,
      { tenant: "acme", integration: "orders", revision: "r1", streams: STREAMS_CREATED, secrets: missing },
      "T2",
    );
    expect(later.conditions.map((c) => [c.type, c.status, c.reason, c.since])).to.deep.equal([
      ["StreamsReady", "True", "Created", "T1"],
      ["SecretsResolved", "False", "SecretMissing", "T2"],
      ["Ready", "False", "SecretMissing", "T2"],
      ["Degraded", "True", "SecretMissing", "T2"],
    ]);
    expect(sameStatus(ok, later)).to.equal(false);
    expect(sameStatus(ok, { ...ok, updatedAt: "later" })).to.equal(true);
    expect(sameStatus(ok, { ...ok, revision: "r2" })).to.equal(false);
  });
});
