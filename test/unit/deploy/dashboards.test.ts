import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { renderDashboards } from "../../../deploy/grafana/src/dashboards.js";
import { packageRoot } from "../../../engine/util/package-root.js";
import { dashboardQueries, type GrafanaDashboard } from "../../helpers/dashboards.js";

const dir = join(packageRoot(), "deploy", "grafana");

/** The metric names of docs/operations.md's tables ("Metrics"). */
function documentedMetrics(): Set<string> {
  const doc = readFileSync(join(packageRoot(), "docs", "operations.md"), "utf8");
  return new Set([...doc.matchAll(/^\| `([a-z_]+)` \| (?:counter|gauge|histogram) \|/gm)].map((m) => m[1]!));
}

describe("deploy/grafana: the dashboards committed are the ones dashboards.ts generates", () => {
  const rendered = renderDashboards();

  it("every committed dashboard equals a fresh generation (else: npm run dashboards, and commit)", () => {
    const committed = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(committed.sort(), "the JSON files of deploy/grafana/").to.deep.equal([...rendered.keys()].sort());
    for (const [file, text] of rendered)
      expect(readFileSync(join(dir, file), "utf8") === text, `deploy/grafana/${file} is stale: run npm run dashboards`)
        .to.be.true;
  });

  it("each dashboard has its own uid, a Prometheus datasource variable, and every query goes to it", () => {
    const uids = new Set<string>();
    for (const [file, text] of rendered) {
      const d = JSON.parse(text) as GrafanaDashboard & { uid: string };
      expect(uids.has(d.uid), `${file}: uid ${d.uid} is used twice`).to.be.false;
      uids.add(d.uid);
      expect(d.templating.list.find((v) => v.name === "datasource")).to.include({
        type: "datasource",
        query: "prometheus",
      });
      const queries = dashboardQueries(d);
      expect(queries.length, file).to.be.greaterThan(5);
      for (const q of queries)
        expect(q.datasource, `${file}: ${q.panel}`).to.deep.equal({ type: "prometheus", uid: "${datasource}" });
    }
  });

  it("every metric a query reads is one VRSky serves (docs/operations.md, Metrics)", () => {
    const documented = documentedMetrics();
    expect(documented.size).to.be.greaterThan(30);
    for (const [file, text] of rendered)
      for (const q of dashboardQueries(JSON.parse(text) as GrafanaDashboard))
        for (const [name] of q.expr.matchAll(/\b(?:vrsky|process|nodejs)_[a-z_]+/g)) {
          const base = name.replace(/_(bucket|count|sum)$/, "");
          expect(documented.has(name) || documented.has(base), `${file}: ${q.panel} reads ${name}`).to.be.true;
        }
  });
});
