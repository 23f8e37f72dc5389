import { expect } from "chai";
import { renderStatus } from "../../../engine/cli/commands/status.js";
import { buildStatus } from "../../../engine/views/status.js";
import { expectNoRawControls } from "../../helpers/hostile-text.js";
import { assignment, claim, emptySnapshot, stateRecord, sync, worker } from "../views/records.js";

/** Every string a KV record can bring into `vrsky status`, with terminal escapes, NUL, C1 and bidi controls. */
describe("vrsky status text with hostile values in KV", () => {
  const H = "\u001b[2J\u001b]0;x\u0007\u0000\u009b1A\u202e\u2066\nfake line";

  it("prints every one of them with visible escapes", () => {
    const s = emptySnapshot();
    const st = sync({ ready: false, notReady: [{ kind: "integrations", key: `acme.${H}`, reason: H, message: H }] });
    st.branch = H;
    st.conditions[0]!.reason = H;
    st.conditions[0]!.message = H;
    st.lastRun.errors = [
      { file: `tenants/${H}.yaml`, line: 1, column: 1, path: "", code: "VRS_YAML_SYNTAX", message: H },
    ];
    st.lastRun.errorCount = 1;
    s.sync = st;
    s.leader = { holder: H, epoch: 1, expiresAt: Date.now() } as never;
    s.tenants = [{ key: `t${H}`, value: stateRecord("Tenant", H) }];
    s.workers = [{ key: `w${H}`, value: worker(`w${H}`, { labels: { [`k${H}`]: H } }) }];
    s.assignments = [
      { key: "acme.a.0", value: assignment("acme.a.0", null, 1, H) },
      { key: "acme.b.0", value: assignment("acme.b.0", `w${H}`, 2) },
    ];
    s.replicas = [{ key: "acme.b.0", value: claim(`w${H}`, 2, "failed", H) }];
    s.placement = { leader: H, updatedAt: H, replicas: { wanted: 2, assigned: 1, unplaced: 1 } } as never;
    const out = renderStatus(buildStatus(s), true, true, false);
    expectNoRawControls(out, "status");
    expect(out).to.include("\\x1b[2J").and.include("\\u202e").and.include("\\nfake line");
    expect(out.split("\n").filter((l) => l.startsWith("fake line"))).to.deep.equal([]);
  });
});
