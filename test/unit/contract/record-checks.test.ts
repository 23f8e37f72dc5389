import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { implausibleLease, LEASE_FORMAT, MAX_LEASE_TTL_MS } from "../../../engine/contract/lease.js";
import {
  decodeAccount,
  decodeAssignment,
  decodeDiscovery,
  decodeFlow,
  decodeIntegrationStatus,
  decodeInventory,
  decodeLease,
  decodeMode,
  decodePlacement,
  decodeReplica,
  decodeRevocation,
  decodeState,
  decodeSyncStatus,
  decodeWorker,
  type RecordDecoder,
} from "../../../engine/contract/record-checks.js";
import { RECORD_FORMATS, type RecordFormat } from "../../../engine/contract/records.js";
import { packageRoot } from "../../../engine/util/package-root.js";

const DECODERS: { [F in RecordFormat]: RecordDecoder<unknown> } = {
  "vrsky.io/state/v1": decodeState,
  "vrsky.io/status/v1": decodeSyncStatus,
  "vrsky.io/placement/v1": decodePlacement,
  "vrsky.io/lease/v1": decodeLease,
  "vrsky.io/mode/v1": decodeMode,
  "vrsky.io/discovery/v1": decodeDiscovery,
  "vrsky.io/account/v1": decodeAccount,
  "vrsky.io/revocation/v1": decodeRevocation,
  "vrsky.io/worker/v1": decodeWorker,
  "vrsky.io/assignment/v1": decodeAssignment,
  "vrsky.io/replica/v1": decodeReplica,
  "vrsky.io/inventory/v1": decodeInventory,
  "vrsky.io/integration-status/v1": decodeIntegrationStatus,
  "vrsky.io/flow/v1": decodeFlow,
};

/** The JSON examples of each format's section in docs/state.md. */
function docExamples(): Map<RecordFormat, Array<Record<string, unknown>>> {
  const doc = readFileSync(join(packageRoot(), "docs/state.md"), "utf8");
  const out = new Map<RecordFormat, Array<Record<string, unknown>>>();
  for (const section of doc.split(/\n(?=#)/)) {
    const format = RECORD_FORMATS.find((f) => section.split("\n")[0]!.includes(`\`${f}\``));
    if (!format) continue;
    for (const block of section.matchAll(/```json\n([\s\S]*?)```/g))
      for (const part of block[1]!.split(/\n\s*\n/))
        if (part.trim()) out.set(format, [...(out.get(format) ?? []), JSON.parse(part) as Record<string, unknown>]);
  }
  return out;
}

const reason = (d: { ok: boolean; reason?: string }) => (d.ok ? "accepted" : d.reason);

describe("record decoders: every value read from KV is checked against its contract", () => {
  const examples = docExamples();

  it("accept every example of docs/state.md, each under no key (and a record is returned, not a copy of garbage)", () => {
    for (const format of RECORD_FORMATS) {
      const shown = examples.get(format) ?? [];
      expect(shown, `examples of ${format}`).to.not.be.empty;
      for (const example of shown) {
        const d = DECODERS[format](JSON.stringify(example));
        expect(reason(d), `${format}: ${JSON.stringify(example)}`).to.equal("accepted");
      }
    }
  });

  it("refuse, with a reason and never the value, what is not JSON, not an object, another format or no format", () => {
    for (const format of RECORD_FORMATS) {
      const decode = DECODERS[format];
      expect(reason(decode("SECRET-not json{")), format).to.equal("not JSON");
      expect(reason(decode("")), format).to.equal("empty value");
      expect(reason(decode("[1,2]")), format).to.equal("not a JSON object");
      expect(reason(decode("null")), format).to.equal("not a JSON object");
      expect(reason(decode(new TextEncoder().encode('"SECRET"'))), format).to.equal("not a JSON object");
      const other = format === LEASE_FORMAT ? "vrsky.io/state/v1" : LEASE_FORMAT;
      const example = examples.get(format)![0]!;
      expect(reason(decode(JSON.stringify({ ...example, format: other }))), format).to.equal(`format is not ${format}`);
      const noFormat = decode(JSON.stringify({ ...example, format: undefined }));
      // Leases and revocations from before records carried a format are read as v1.
      if (format === LEASE_FORMAT || format === "vrsky.io/revocation/v1") {
        expect(reason(noFormat), format).to.equal("accepted");
        expect((noFormat as { value: { format: string } }).value.format).to.equal(format);
      } else expect(reason(noFormat), format).to.match(/format/);
    }
  });

  it("refuse a record with a required field missing or of the wrong type, naming the field", () => {
    for (const format of RECORD_FORMATS) {
      const example = examples.get(format)![0]!;
      for (const field of Object.keys(example).filter((f) => f !== "format")) {
        const wrong = decode(format, { ...example, [field]: { nested: ["SECRET"] } });
        expect(wrong, `${format}.${field} as an object`).to.match(new RegExp(`^field "${field}"`));
        expect(wrong).to.not.include("SECRET");
      }
    }
    expect(decode("vrsky.io/lease/v1", { holder: "a", epoch: 1, renewedAt: 1 })).to.equal(
      'field "expiresAt" is missing',
    );
    expect(decode("vrsky.io/status/v1", { ...examples.get("vrsky.io/status/v1")![0], conditions: 5 })).to.equal(
      'field "conditions": not an array',
    );
  });

  it("refuse nested garbage that readers would crash on (a sync status's run, a placement's workers)", () => {
    const sync = examples.get("vrsky.io/status/v1")![0]!;
    const lastRun = sync.lastRun as Record<string, unknown>;
    expect(decode("vrsky.io/status/v1", { ...sync, lastRun: { ...lastRun, counts: null } })).to.equal(
      'field "lastRun": field "counts": not an object',
    );
    expect(decode("vrsky.io/status/v1", { ...sync, lastRun: { ...lastRun, errors: [{ file: 1 }] } })).to.equal(
      'field "lastRun": field "errors": [0]: field "file": not a string',
    );
    const placement = examples.get("vrsky.io/placement/v1")![0]!;
    expect(decode("vrsky.io/placement/v1", { ...placement, workers: [{ id: "w" }] })).to.match(
      /^field "workers": \[0\]: field "state"/,
    );
    const worker = examples.get("vrsky.io/worker/v1")![0]!;
    expect(decode("vrsky.io/worker/v1", { ...worker, labels: { "\u001b[2J": 5 } })).to.equal(
      'field "labels": a value is not a string',
    );
  });

  it("refuse a record stored under another record's key (discovery, account, worker, assignment, ...)", () => {
    const under = (format: RecordFormat, key: string) =>
      reason(DECODERS[format](JSON.stringify(examples.get(format)![0]), key));
    expect(under("vrsky.io/discovery/v1", "globex")).to.equal("accepted");
    expect(under("vrsky.io/discovery/v1", "acme")).to.equal("does not match its key");
    expect(under("vrsky.io/account/v1", "initech")).to.equal("does not match its key");
    expect(under("vrsky.io/inventory/v1", "initech")).to.equal("does not match its key");
    expect(under("vrsky.io/worker/v1", "w9")).to.equal("does not match its key");
    expect(under("vrsky.io/assignment/v1", "acme.orders.9")).to.equal("does not match its key");
    expect(under("vrsky.io/flow/v1", "acme.orders.9")).to.equal("does not match its key");
    expect(under("vrsky.io/integration-status/v1", "acme.other")).to.equal("does not match its key");
    expect(under("vrsky.io/state/v1", "initech")).to.equal("does not match its key");
  });

  it("refuse an account record whose claims are not a JSON object, and a lease that expires before its renewal", () => {
    const account = examples.get("vrsky.io/account/v1")![0]!;
    expect(decode("vrsky.io/account/v1", { ...account, claims: "{" })).to.equal('field "claims": not JSON');
    expect(decode("vrsky.io/lease/v1", { holder: "a", epoch: 1, renewedAt: 10, expiresAt: 5 })).to.equal(
      "expires before it was renewed",
    );
  });

  it("take a lease as implausible when it lasts longer than the longest lease or was renewed in the future", () => {
    const now = 1_800_000_000_000;
    expect(implausibleLease({ renewedAt: now, expiresAt: now + 5_000 }, now, 1_000)).to.equal(undefined);
    expect(implausibleLease({ renewedAt: now, expiresAt: now + MAX_LEASE_TTL_MS }, now, 1_000)).to.equal(undefined);
    expect(implausibleLease({ renewedAt: now, expiresAt: now + MAX_LEASE_TTL_MS + 1 }, now, 1_000)).to.match(
      /longer than the longest lease/,
    );
    expect(implausibleLease({ renewedAt: now + 1_000, expiresAt: now + 6_000 }, now, 1_000)).to.equal(undefined);
    expect(implausibleLease({ renewedAt: now + 60_000, expiresAt: now + 65_000 }, now, 1_000)).to.equal(
      "it was renewed in the future",
    );
  });
});

function decode(format: RecordFormat, value: unknown): string | undefined {
  return reason(DECODERS[format](JSON.stringify(value)));
}
