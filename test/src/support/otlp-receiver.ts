import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** OTLP/JSON AnyValue, as far as the services send it. */
interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}

export type Attributes = Record<string, string | number | boolean>;

export interface ReceivedSpan {
  readonly service: string;
  readonly scope: string;
  readonly traceId: string;
  readonly spanId: string;
  /** "" for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: "internal" | "server" | "client" | "producer" | "consumer" | "unspecified";
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Attributes;
  readonly links: readonly { traceId: string; spanId: string }[];
  readonly error: boolean;
}

export interface ReceivedPoint {
  readonly service: string;
  /** service.name and process.pid: a restarted service starts its counters again. */
  readonly instance: string;
  readonly metric: string;
  readonly type: "sum" | "gauge" | "histogram";
  readonly attributes: Attributes;
  /** The sum or gauge value; a histogram's count. */
  readonly value: number;
}

const KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"] as const;

function valueOf(value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  return "";
}

function attributesOf(list: readonly KeyValue[] | undefined): Attributes {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

/** OTLP/JSON ids are hex; some encoders send base64. Normalise to lowercase hex. */
function hexId(id: string | undefined): string {
  if (!id) return "";
  if (/^[0-9a-fA-F]+$/.test(id) && (id.length === 16 || id.length === 32)) return id.toLowerCase();
  return Buffer.from(id, "base64").toString("hex");
}

/**
 * A tiny OTLP/HTTP receiver for tests: the services export to it with
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json; it keeps every span and metric data point it is sent.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly points: ReceivedPoint[] = [];
  /** Requests it could not parse, for the failure message. */
  readonly problems: string[] = [];
  private server: Server | undefined;

  /** Listens on 127.0.0.1 and resolves with the endpoint for OTEL_EXPORTER_OTLP_ENDPOINT. */
  async start(): Promise<string> {
    const server = createServer((request, response) => {
      void this.receive(request).then(
        () => {
          response.writeHead(200, { "content-type": "application/json" });
          response.end("{}");
        },
        (error: unknown) => {
          this.problems.push(`${request.url}: ${String(error)}`);
          response.writeHead(400, { "content-type": "application/json" });
          response.end("{}");
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async receive(request: IncomingMessage): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    if (!(request.headers["content-type"] ?? "").includes("json")) {
      throw new Error(`expected OTLP/JSON, got ${request.headers["content-type"]}`);
    }
    const json = JSON.parse(body) as Record<string, unknown>;
    if (request.url === "/v1/traces") this.traces(json);
    else if (request.url === "/v1/metrics") this.metrics(json);
    else if (request.url !== "/v1/logs") throw new Error(`unexpected path ${request.url}`);
  }

  private traces(json: Record<string, unknown>): void {
    for (const resourceSpans of (json.resourceSpans ?? []) as {
      resource?: { attributes?: KeyValue[] };
      scopeSpans?: { scope?: { name?: string }; spans?: Record<string, unknown>[] }[];
    }[]) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)["service.name"] ?? "");
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            service,
            scope: scopeSpans.scope?.name ?? "",
            traceId: hexId(span.traceId as string),
            spanId: hexId(span.spanId as string),
            parentSpanId: hexId(span.parentSpanId as string | undefined),
            name: String(span.name),
            kind: KINDS[Number(span.kind ?? 0)] ?? "unspecified",
            startNs: BigInt(String(span.startTimeUnixNano ?? 0)),
            endNs: BigInt(String(span.endTimeUnixNano ?? 0)),
            attributes: attributesOf(span.attributes as KeyValue[]),
            links: ((span.links ?? []) as { traceId: string; spanId: string }[]).map((link) => ({
              traceId: hexId(link.traceId),
              spanId: hexId(link.spanId),
            })),
            error: (span.status as { code?: number } | undefined)?.code === 2,
          });
        }
      }
    }
  }

  private metrics(json: Record<string, unknown>): void {
    type Point = { attributes?: KeyValue[]; asInt?: string | number; asDouble?: number; count?: string | number };
    for (const resourceMetrics of (json.resourceMetrics ?? []) as {
      resource?: { attributes?: KeyValue[] };
      scopeMetrics?: { metrics?: Record<string, unknown>[] }[];
    }[]) {
      const resource = attributesOf(resourceMetrics.resource?.attributes);
      const service = String(resource["service.name"] ?? "");
      const instance = `${service}/${String(resource["process.pid"] ?? "")}`;
      for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scopeMetrics.metrics ?? []) {
          for (const type of ["sum", "gauge", "histogram"] as const) {
            const data = metric[type] as { dataPoints?: Point[] } | undefined;
            for (const point of data?.dataPoints ?? []) {
              const value =
                type === "histogram" ? Number(point.count ?? 0) : Number(point.asInt ?? point.asDouble ?? 0);
              this.points.push({
                service,
                instance,
                metric: String(metric.name),
                type,
                attributes: attributesOf(point.attributes),
                value,
              });
            }
          }
        }
      }
    }
  }

  /** Names of the metrics received, with the services that sent each. */
  metricNames(): Map<string, Set<string>> {
    const names = new Map<string, Set<string>>();
    for (const point of this.points) {
      const services = names.get(point.metric) ?? new Set<string>();
      services.add(point.service);
      names.set(point.metric, services);
    }
    return names;
  }

  /**
   * The latest value of a cumulative counter, summed over the service instances and attribute sets
   * whose attributes include `where`.
   */
  counter(metric: string, where: Attributes = {}): number {
    const latest = new Map<string, number>();
    for (const point of this.points) {
      if (point.metric !== metric) continue;
      if (!Object.entries(where).every(([key, value]) => point.attributes[key] === value)) continue;
      latest.set(`${point.instance}|${JSON.stringify(point.attributes)}`, point.value);
    }
    return [...latest.values()].reduce((sum, value) => sum + value, 0);
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }
}

/**
 * The spans of one trace as an indented tree, children in start order: "name [service, kind]".
 * `extraRoots` names parents that were not exported (e.g. the test's own client spans).
 */
export function renderTree(
  spans: readonly ReceivedSpan[],
  extraRoots: ReadonlyMap<string, string> = new Map(),
): string {
  const byParent = new Map<string, ReceivedSpan[]>();
  const ids = new Set(spans.map((span) => span.spanId));
  for (const span of spans) {
    const siblings = byParent.get(span.parentSpanId) ?? [];
    siblings.push(span);
    byParent.set(span.parentSpanId, siblings);
  }
  for (const siblings of byParent.values()) siblings.sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
  const lines: string[] = [];
  const walk = (span: ReceivedSpan, depth: number) => {
    const links = span.links.length > 0 ? ` links=${span.links.length}` : "";
    lines.push(
      `${"  ".repeat(depth)}${span.name} [${span.service}, ${span.kind}${span.error ? ", error" : ""}${links}]`,
    );
    for (const child of byParent.get(span.spanId) ?? []) walk(child, depth + 1);
  };
  const roots = spans.filter((span) => !ids.has(span.parentSpanId)).sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
  const printedParents = new Set<string>();
  for (const root of roots) {
    if (root.parentSpanId !== "" && !printedParents.has(root.parentSpanId)) {
      printedParents.add(root.parentSpanId);
      lines.push(`${extraRoots.get(root.parentSpanId) ?? `(parent ${root.parentSpanId}, not exported)`}`);
    }
    walk(root, root.parentSpanId === "" ? 0 : 1);
  }
  return lines.join("\n");
}
