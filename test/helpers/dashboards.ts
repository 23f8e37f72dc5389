/** Reading the queries of a Grafana dashboard's JSON (deploy/grafana/*.json). */

export interface GrafanaDashboard {
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: { title?: string; type: string; targets?: { expr: string; datasource?: unknown }[] }[];
}

export interface PanelQuery {
  panel: string;
  expr: string;
  datasource: unknown;
}

/** Every query of every panel. */
export function dashboardQueries(d: GrafanaDashboard): PanelQuery[] {
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title ?? p.type, expr: t.expr, datasource: t.datasource })),
  );
}

/** A query with the dashboard's variables replaced as Grafana does for "All" and a short range. */
export function substituteVariables(expr: string, rateInterval: string): string {
  return expr.replaceAll("$__rate_interval", rateInterval).replaceAll("$tenant", ".*").replaceAll("$integration", ".*");
}
