import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { METRICS, prometheusName, prometheusSeries } from "@pot/telemetry";
import { alertMetricNames, dashboardMetricNames, metricNamesIn } from "./support/prometheus.js";

/**
 * The Grafana dashboard (infra/grafana/dashboards) may only query metrics the services export:
 * METRICS is the list the telemetry end-to-end test checks against what the services really send
 * (by OTLP) and expose (on /metrics), so a panel on a renamed or missing metric fails here.
 */
describe("the provisioned Grafana dashboard", () => {
  const exported = new Set(Object.values(METRICS).flatMap((metric) => prometheusSeries(metric)));
  const used = dashboardMetricNames();

  test("queries only metrics the services export", () => {
    const unknown = [...used].filter((name) => !exported.has(name));
    assert.deepEqual(unknown, [], `the dashboard queries metrics no service exports: ${unknown.join(", ")}`);
  });

  test("shows every metric the services export", () => {
    const missing = Object.values(METRICS).filter(
      (metric) => !prometheusSeries(metric).some((series) => used.has(series)),
    );
    assert.deepEqual(
      missing.map((metric) => prometheusName(metric)),
      [],
      "every exported metric has a panel",
    );
  });

  test("the alerting rules query only metrics the services export", () => {
    const names = alertMetricNames();
    assert.ok(names.size >= 8, `found the rules' metrics (${[...names].join(", ")})`);
    const unknown = [...names].filter((name) => !exported.has(name));
    assert.deepEqual(unknown, [], `the alerts query metrics no service exports: ${unknown.join(", ")}`);
  });

  test("metric names are read out of PromQL, not labels, functions or durations", () => {
    assert.deepEqual(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, rpc_method) (rate(pot_rpc_server_duration_bucket{pot_rpc_status!="OK"}[$__rate_interval])))',
      ),
      ["pot_rpc_server_duration_bucket"],
    );
    assert.deepEqual(
      metricNamesIn("sum(increase(a_total[1h])) / clamp_min(sum(increase(b_total[1h])), 1) and on(job) up"),
      ["a_total", "b_total", "up"],
    );
    assert.deepEqual(metricNamesIn("label_values(pot_consumer_pending, pot_consumer)"), ["pot_consumer_pending"]);
  });
});
