import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** The parts of V8's .cpuprofile format (as written by `node --cpu-prof`) that we read. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly children?: readonly number[];
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface HotFunction {
  /** "name (file:line)", the file relative to the repository or as "pkg/..." inside node_modules. */
  readonly name: string;
  readonly selfMs: number;
  /** Share of the profile's busy (non-idle) samples. */
  readonly selfPercent: number;
}

export interface ProfileSummary {
  readonly file: string;
  /** Wall time the profile covers. */
  readonly totalMs: number;
  /** Time not in "(idle)": what the main thread spent working (GC included). */
  readonly busyMs: number;
  readonly top: readonly HotFunction[];
  /** Self time grouped by where the code lives: a package, node internals, the project's own code. */
  readonly byArea: readonly HotFunction[];
  /** Self time grouped by what the work is (signatures, socket writes, gRPC, NATS, SQL, ...). */
  readonly byKind: readonly HotFunction[];
}

const SOCKET_WRITES = /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/;

/** What a sample is doing, from its function and file; the first match wins. */
const KINDS: readonly [string, (fn: string, url: string) => boolean][] = [
  ["Ed25519 in JavaScript (@noble/curves)", (_, url) => url.includes("/@noble/curves/")],
  [
    "Ed25519 and hashing (node:crypto, the mechanism)",
    (_, url) => url.startsWith("node:internal/crypto") || url.includes("/packages/mechanism/"),
  ],
  ["hashing (@noble/hashes)", (_, url) => url.includes("/@noble/hashes/")],
  ["gRPC (grpc-js, http2)", (_, url) => url.includes("/@grpc/") || url.startsWith("node:internal/http2")],
  ["NATS client", (_, url) => url.includes("/@nats-io/")],
  ["SQL (kysely, pg)", (_, url) => /\/node_modules\/(kysely|pg|pg-protocol|pg-pool|pg-types)\//.test(url)],
  ["protobuf", (_, url) => /\/(@bufbuild|protobufjs)\//.test(url) || url.includes("/proto/dist/")],
  ["OpenTelemetry", (_, url) => url.includes("/@opentelemetry/")],
  ["logging (pino)", (_, url) => /\/(pino|sonic-boom)\//.test(url)],
  ["garbage collection", (fn) => fn === "(garbage collector)"],
  ["services' code", (_, url) => url.includes("/services/")],
  ["shared packages' code", (_, url) => url.includes("/packages/")],
  ["other Node internals", (_, url) => url.startsWith("node:")],
];

const IDLE = new Set(["(idle)", "(program)"]);

/** Top self-time functions of a .cpuprofile, and self time grouped by package. */
export function summariseProfile(file: string, root: string, topN = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    // The first delta runs from the profiler's start to its first sample: not work of the program.
    if (index === 0) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  /** Socket writes are system calls made for some library: name it from the nearest library frame. */
  const writer = (id: number): string => {
    for (let at = parents.get(id); at !== undefined; at = parents.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? "";
      if (url.includes("/@nats-io/")) return "NATS client";
      if (/\/node_modules\/pg(-protocol)?\//.test(url)) return "Postgres client";
      if (url.includes("/@grpc/") || url.startsWith("node:internal/http2")) return "gRPC";
      if (/\/(pino|sonic-boom)\//.test(url)) return "logging";
      if (url.includes("/node_modules/") || url.includes("/packages/") || url.includes("/services/")) return "other";
    }
    return "other";
  };
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const kinds = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const fn = frame.functionName || "(anonymous)";
    if (IDLE.has(fn)) continue;
    busyUs += us;
    const where = place(frame.url, root);
    const key = where ? `${fn} (${where}:${frame.lineNumber + 1})` : fn;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(frame.url, root, fn);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const kind =
      SOCKET_WRITES.test(fn) && !frame.url
        ? `socket writes (syscalls) for the ${writer(id)}`
        : (KINDS.find(([, matches]) => matches(fn, frame.url))?.[0] ?? "other (V8, native)");
    kinds.set(kind, (kinds.get(kind) ?? 0) + us);
  }
  const rank = (entries: Map<string, number>, n: number): HotFunction[] =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({
        name,
        selfMs: Math.round(us / 1000),
        selfPercent: busyUs === 0 ? 0 : Math.round((us / busyUs) * 1000) / 10,
      }));
  return {
    file: relative(root, file),
    totalMs: Math.round((profile.endTime - profile.startTime) / 1000),
    busyMs: Math.round(busyUs / 1000),
    top: rank(functions, topN),
    byArea: rank(areas, 10),
    byKind: rank(kinds, 20),
  };
}

/** The newest .cpuprofile in `dir`. */
export function latestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".cpuprofile"))
    .sort();
  const last = files.at(-1);
  return last === undefined ? undefined : join(dir, last);
}

function place(url: string, root: string): string {
  if (!url) return "";
  const path = url.startsWith("file://") ? decodeURIComponent(new URL(url).pathname) : url;
  const modules = path.lastIndexOf("/node_modules/");
  if (modules >= 0) return path.slice(modules + "/node_modules/".length);
  return path.startsWith(root) ? relative(root, path) : path;
}

function areaOf(url: string, root: string, fn: string): string {
  if (fn === "(garbage collector)") return "(garbage collector)";
  if (!url) return "(native/V8)";
  if (url.startsWith("node:")) return "node internals";
  const path = place(url, root);
  if (/^(?:@[^/]+\/)?[^/]+\//.test(path) && url.includes("/node_modules/")) {
    const parts = path.split("/");
    const name = path.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
    // Our workspace packages are linked into node_modules; name them by package too.
    return name;
  }
  const workspace = /^(packages|services|proto|bench)\/([^/]+)\//.exec(path);
  return workspace ? `${workspace[1]}/${workspace[2]}` : path;
}
