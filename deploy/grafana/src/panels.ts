/**
 * Building blocks of VRSky's Grafana dashboards (`@grafana/grafana-foundation-sdk`): the Prometheus datasource
 * variable, the tenant and integration variables, and time-series and stat panels whose queries all go to the
 * datasource the variable picks. Pure: the dashboards are data; generate.ts writes them.
 */
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";

/** Every panel's datasource: the one the `datasource` variable selects. */
export const DATASOURCE: common.DataSourceRef = { type: "prometheus", uid: "${datasource}" };

/** The rate()/increase() window of every panel: Grafana's, at least four scrape intervals. */
export const WINDOW = "$__rate_interval";

/** A query: PromQL and the legend of its series. */
export interface Query {
  expr: string;
  legend?: string;
}

function target(q: Query, refId: string): prometheus.DataqueryBuilder {
  const b = new prometheus.DataqueryBuilder().datasource(DATASOURCE).expr(q.expr).refId(refId).range();
  if (q.legend !== undefined) b.legendFormat(q.legend);
  return b;
}

const REF_IDS = "ABCDEFGHIJ";

/** A time series of one or more queries. */
export function graph(
  title: string,
  description: string,
  unit: string,
  queries: Query[],
  opts: { span?: number; stack?: boolean; min?: number } = {},
): timeseries.PanelBuilder {
  const b = new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .min(opts.min ?? 0)
    .span(opts.span ?? 12)
    .height(8)
    .fillOpacity(opts.stack ? 40 : 10)
    .lineWidth(1)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    );
  if (opts.stack) b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  queries.forEach((q, i) => b.withTarget(target(q, REF_IDS[i]!)));
  return b;
}

/** A single number (the last value), red from `red` on when given; or the series' name (`showName`). */
export function single(
  title: string,
  description: string,
  unit: string,
  query: Query,
  opts: { span?: number; red?: number; showName?: boolean } = {},
): stat.PanelBuilder {
  const b = new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .span(opts.span ?? 4)
    .height(4)
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .withTarget(target(query, "A"));
  if (opts.showName) b.textMode(common.BigValueTextMode.Name);
  if (opts.red !== undefined)
    b.thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: "green" },
        { value: opts.red, color: "red" },
      ]),
    );
  return b;
}

/** The Prometheus datasource to read from. */
export function datasourceVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder("datasource").label("Prometheus").type("prometheus");
}

/** A variable of the values of `label` on `series`, multi-select, "All" matching everything. */
export function labelVariable(name: string, label: string, series: string): dashboard.QueryVariableBuilder {
  const query = `label_values(${series}, ${name})`;
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query({ query, refId: "variable" })
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(".*");
}

/** p50, p90 and p99 of a histogram (summed over every label but `le`). */
export function quantiles(histogram: string): Query[] {
  return [0.5, 0.9, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le) (rate(${histogram}_bucket[${WINDOW}])))`,
    legend: `p${Math.round(q * 100)}`,
  }));
}

/** A dashboard with VRSky's defaults: the datasource variable, the last hour, refreshed every 30 s. */
export function vrskyDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(["vrsky"])
    .editable()
    .timezone("browser")
    .time({ from: "now-1h", to: "now" })
    .refresh("30s")
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .withVariable(datasourceVariable());
}
