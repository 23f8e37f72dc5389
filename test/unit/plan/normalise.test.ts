import { expect } from "chai";
import { diffStates } from "../../../engine/plan/diff.js";
import { resourcesOf } from "./diff-support.js";

const TENANT = (limits: string) =>
  `apiVersion: vrsky.io/v1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  limits:\n${limits}`;
const INTEGRATION = (extra: string, sink = "") =>
  `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: hook\n  tenant: acme\nspec:\n` +
  `  source:\n    type: http\n    config:\n      path: /hook\n${extra}` +
  `  sinks:\n    - name: out\n      type: http\n      config:\n        url: https://api.example.com/x\n${sink}`;

/** Plans two versions of the same manifests, each validated (and so normalised) first. */
function plan(before: Record<string, string>, after: Record<string, string>) {
  return diffStates(resourcesOf(before), resourcesOf(after));
}

describe("plan over normalised manifests: equal values in different spellings are no change", () => {
  it("1000ms and 1s, 60s and 1m, 168h and 7d are the same duration", () => {
    const r = plan(
      {
        "tenants/acme.yaml": TENANT("    integrations: 5\n"),
        "integrations/acme/hook.yaml": INTEGRATION(
          "  retry:\n    initialBackoff: 1000ms\n    maxBackoff: 60s\n  deadLetter:\n    retention: 168h\n",
          "        timeout: 10000ms\n",
        ),
      },
      {
        "tenants/acme.yaml": TENANT("    integrations: 5\n"),
        "integrations/acme/hook.yaml": INTEGRATION(
          "  retry:\n    initialBackoff: 1s\n    maxBackoff: 1m\n  deadLetter:\n    retention: 7d\n",
          "        timeout: 10s\n",
        ),
      },
    );
    expect(r).to.deep.equal({ changes: [], unchanged: 2 });
  });

  it("1MiB and 1048576, 1GiB and 1073741824, 64Mi and 64MiB are the same size", () => {
    const r = plan(
      {
        "tenants/acme.yaml": TENANT(
          "    payloadBytes: 1MiB\n    jetstream:\n      storageBytes: 1GiB\n      memoryBytes: 64Mi\n",
        ),
      },
      {
        "tenants/acme.yaml": TENANT(
          "    payloadBytes: 1048576\n    jetstream:\n      storageBytes: 1073741824\n      memoryBytes: 64MiB\n",
        ),
      },
    );
    expect(r).to.deep.equal({ changes: [], unchanged: 1 });
  });

  it("a written default is the same as a left-out one, and flow style the same as block style", () => {
    const r = plan(
      {
        "tenants/acme.yaml": TENANT("    integrations: 50\n"),
        "integrations/acme/hook.yaml": INTEGRATION("  replicas: 1\n  suspend: false\n"),
      },
      {
        "tenants/acme.yaml": "{apiVersion: vrsky.io/v1, kind: Tenant, metadata: {name: acme}}\n",
        "integrations/acme/hook.yaml": INTEGRATION(""),
      },
    );
    expect(r).to.deep.equal({ changes: [], unchanged: 2 });
  });

  it("a real change is still shown, with canonical before and after values", () => {
    const r = plan(
      {
        "tenants/acme.yaml": TENANT("    payloadBytes: 1MiB\n"),
        "integrations/acme/hook.yaml": INTEGRATION("", "        timeout: 1000ms\n"),
      },
      {
        "tenants/acme.yaml": TENANT("    payloadBytes: 2MiB\n"),
        "integrations/acme/hook.yaml": INTEGRATION("", "        timeout: 90s\n"),
      },
    );
    expect(r.unchanged).to.equal(0);
    expect(r.changes.map((c) => [c.kind, c.values])).to.deep.equal([
      ["Tenant", [{ path: "spec.limits.payloadBytes", before: 1048576, after: 2097152 }]],
      ["Integration", [{ path: "spec.sinks[0].config.timeout", before: "1s", after: "1m30s" }]],
    ]);
  });
});
