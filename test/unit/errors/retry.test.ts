import { expect } from "chai";
import { decideRetry, RETRY, type RetryInput, type RetryPolicy } from "../../../engine/errors/retry.js";
import { retryClassOf, VrskyError } from "../../../engine/errors/errors.js";

const P: RetryPolicy = { initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 0.5 };

describe("decideRetry: the one retry decision", () => {
  const cases: Array<[string, Omit<RetryInput, "policy"> & { policy?: RetryPolicy }, ReturnType<typeof decideRetry>]> =
    [
      ["stall never retries", { retry: "stall", attempt: 1, random: 0 }, { action: "stop", reason: "stall" }],
      [
        "transient, 1st failure, no jitter drawn",
        { retry: "transient", attempt: 1, random: 0 },
        { action: "retry", delayMs: 100 },
      ],
      [
        "transient, 2nd failure doubles",
        { retry: "transient", attempt: 2, random: 0 },
        { action: "retry", delayMs: 200 },
      ],
      ["transient, 4th failure", { retry: "transient", attempt: 4, random: 0 }, { action: "retry", delayMs: 800 }],
      [
        "transient is capped at maxMs",
        { retry: "transient", attempt: 10, random: 0 },
        { action: "retry", delayMs: 1_000 },
      ],
      [
        "huge attempt counts stay capped",
        { retry: "transient", attempt: 5_000, random: 0 },
        { action: "retry", delayMs: 1_000 },
      ],
      [
        "jitter takes up to its share off",
        { retry: "transient", attempt: 2, random: 0.999999 },
        { action: "retry", delayMs: 100 },
      ],
      ["half the jitter", { retry: "transient", attempt: 3, random: 0.5 }, { action: "retry", delayMs: 300 }],
      ["wait does not grow", { retry: "wait", attempt: 7, random: 0 }, { action: "retry", delayMs: 100 }],
      [
        "Retry-After lengthens a delay",
        { retry: "transient", attempt: 1, random: 0, retryAfterMs: 700 },
        { action: "retry", delayMs: 700 },
      ],
      [
        "Retry-After never beyond maxMs",
        { retry: "transient", attempt: 1, random: 0, retryAfterMs: 60_000 },
        { action: "retry", delayMs: 1_000 },
      ],
      [
        "a shorter Retry-After changes nothing",
        { retry: "transient", attempt: 3, random: 0, retryAfterMs: 10 },
        { action: "retry", delayMs: 400 },
      ],
      [
        "attempt 0 is treated as the first",
        { retry: "transient", attempt: 0, random: 0 },
        { action: "retry", delayMs: 100 },
      ],
      [
        "attempts used up",
        { retry: "transient", attempt: 3, random: 0, policy: { ...P, maxAttempts: 3 } },
        { action: "stop", reason: "exhausted" },
      ],
      [
        "below maxAttempts retries",
        { retry: "transient", attempt: 2, random: 0, policy: { ...P, maxAttempts: 3 } },
        { action: "retry", delayMs: 200 },
      ],
      [
        "jitter outside 0–1 is clamped",
        { retry: "transient", attempt: 1, random: 0.5, policy: { ...P, jitter: 7 } },
        { action: "retry", delayMs: 50 },
      ],
    ];
  for (const [name, input, want] of cases) {
    it(name, () => expect(decideRetry({ policy: P, ...input })).to.deep.equal(want));
  }

  it("delays stay within [raw × (1 − jitter), raw] for any random draw", () => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const raw = Math.min(P.maxMs, P.initialMs * 2 ** (attempt - 1));
      for (let k = 0; k < 50; k++) {
        const d = decideRetry({ retry: "transient", attempt, policy: P, random: k / 50 });
        expect(d.action).to.equal("retry");
        if (d.action === "retry") expect(d.delayMs).to.be.within(Math.floor(raw * 0.5), raw);
      }
    }
  });

  it("the engine's policies are sane (initial ≤ max, growth ≥ 1, jitter in [0, 1))", () => {
    for (const [name, p] of Object.entries(RETRY)) {
      expect(p.initialMs, name).to.be.greaterThan(0).and.at.most(p.maxMs);
      expect(p.multiplier, name).to.be.at.least(1);
      expect(p.jitter, name).to.be.at.least(0).and.below(1);
    }
  });

  it("the retry class of an error comes from the registry; unknown errors are transient", () => {
    expect(retryClassOf(new VrskyError("VRS_USAGE", "x"))).to.equal("stall");
    expect(retryClassOf(new VrskyError("VRS_NATS_UNAVAILABLE", "x"))).to.equal("transient");
    expect(retryClassOf(new Error("socket hang up"))).to.equal("transient");
    expect(retryClassOf("a string")).to.equal("transient");
  });
});
