import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "@pot/devenv";

/** The provisioned Grafana dashboard of the compose stack. */
export const DASHBOARD = join("infra", "grafana", "dashboards", "proof-of-trust.json");
/** The Prometheus alerting rules of the compose stack. */
export const ALERTS = join("infra", "prometheus", "alerts.yml");

/** Series Prometheus itself makes (per scrape target), which a dashboard may use besides the services' own. */
export const PROMETHEUS_SERIES: ReadonlySet<string> = new Set(["up"]);

const KEYWORDS = new Set([
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

/** The metric names a PromQL expression (or a Grafana label_values(...) query) reads. */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)/g, "$1");
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call !== undefined || name === undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.push(name);
  }
  return names;
}

/** Every metric name the dashboard's panels and variables query. */
export function dashboardMetricNames(path = join(repoRoot(), DASHBOARD)): Set<string> {
  const dashboard = JSON.parse(readFileSync(path, "utf8")) as unknown;
  const exprs: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== "object" || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "expr" && typeof value === "string") exprs.push(value);
      else if (key === "query" && typeof value === "string" && value.includes("label_values")) exprs.push(value);
      else if (key === "query" && typeof value === "object" && value !== null && "query" in value) {
        const query = (value as { query: unknown }).query;
        if (typeof query === "string") exprs.push(query);
      } else walk(value);
    }
  };
  walk(dashboard);
  return new Set(exprs.flatMap(metricNamesIn).filter((name) => !PROMETHEUS_SERIES.has(name)));
}

/**
 * Every metric name the alerting rules query. Reads the `expr:` values of the rules file, inline
 * or as a folded block (`expr: >-` and the more indented lines under it): no YAML parser needed.
 */
export function alertMetricNames(path = join(repoRoot(), ALERTS)): Set<string> {
  const lines = readFileSync(path, "utf8").split("\n");
  const exprs: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!match) continue;
    const [, indent, inline] = match as unknown as [string, string, string];
    if (!/^[>|]/.test(inline)) {
      exprs.push(inline);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === "" || lines[i + 1]!.search(/\S/) > indent.length)) {
      block.push(lines[++i]!.trim());
    }
    exprs.push(block.join(" "));
  }
  return new Set(exprs.flatMap(metricNamesIn).filter((name) => !PROMETHEUS_SERIES.has(name)));
}

/** The metric family names (# TYPE lines) a Prometheus endpoint exposes. */
export async function scrapeFamilies(url: string): Promise<Set<string>> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const text = await response.text();
  return new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((match) => match[1]!));
}
