import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const dashboardsDir = join(import.meta.dirname, "..", "..", "..", "..", "dashboards");

export interface DashboardQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

// biome-ignore lint/suspicious/noExplicitAny: Grafana dashboard JSON is open-ended
export type Json = any;

export function readDashboards(): { file: string; json: Json }[] {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dashboardsDir, file), "utf8")) }));
}

/** Panels at any depth (rows may hold their own panels when collapsed). */
export function allPanels(dashboard: Json): Json[] {
  const out: Json[] = [];
  const visit = (panels: Json[] | undefined) => {
    for (const panel of panels ?? []) {
      out.push(panel);
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

/** Every PromQL expression of the dashboards: panel targets and query variables. */
export function dashboardQueries(): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const { file, json } of readDashboards()) {
    for (const panel of allPanels(json)) {
      for (const target of panel.targets ?? [])
        queries.push({ dashboard: file, panel: panel.title, expr: target.expr });
    }
    for (const variable of json.templating?.list ?? []) {
      if (variable.type !== "query") continue;
      const query: string = typeof variable.query === "string" ? variable.query : variable.query.query;
      const inner = /^label_values\((.*),\s*\w+\)$/.exec(query);
      queries.push({ dashboard: file, panel: `$${variable.name}`, expr: inner ? inner[1] : query });
    }
  }
  return queries;
}

const keywords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/**
 * Metric names an expression selects: identifiers that are neither functions, keywords, label names inside
 * {} or by/without (...), nor inside strings or range brackets.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w:.])[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const name = match[0].replace(/\s*\($/, "");
    if (match[1] || keywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** Replaces Grafana's variables with values Prometheus accepts: every rank and class, a short rate window. */
export function substituteGrafanaVariables(expr: string, rateInterval = "10s"): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}|\$\{__interval\}/g, rateInterval)
    .replace(/\$\{?(instance|rank|class)\}?/g, ".*");
}
