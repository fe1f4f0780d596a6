// Adds package-lock.json entries for @bufbuild/buf's platform packages that are missing from it.
// Why: a registry mirror that does not serve every platform package (as on our CI machine) makes
// `npm install` leave them out of the lock, and `npm ci` then refuses the lock as out of sync
// ("Missing: @bufbuild/buf-darwin-arm64@ from lock file"). npm skips these entries on other platforms.
// Usage: node scripts/fix-lock.mjs   (run under `flock /tmp/npm.lock` when others may run npm)
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const file = join(root, "package-lock.json");
const PLATFORMS = {
  "darwin-arm64": ["arm64", "darwin"],
  "darwin-x64": ["x64", "darwin"],
  "linux-aarch64": ["arm64", "linux"],
  "linux-armv7": ["arm", "linux"],
  "linux-x64": ["x64", "linux"],
  "win32-arm64": ["arm64", "win32"],
  "win32-x64": ["x64", "win32"],
};
const PREFIX = "node_modules/@bufbuild/buf-";

const lock = JSON.parse(readFileSync(file, "utf8"));
const packages = lock.packages;
const buf = packages["node_modules/@bufbuild/buf"];
if (buf === undefined) {
  console.log("fix-lock: @bufbuild/buf is not in the lock, nothing to do");
  process.exit(0);
}
const added = {};
for (const [name, version] of Object.entries(buf.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  const platform = PLATFORMS[name.slice("@bufbuild/buf-".length)];
  if (packages[key] !== undefined || platform === undefined) continue;
  const [cpu, os] = platform;
  added[key] = {
    version,
    cpu: [cpu],
    dev: true,
    license: "Apache-2.0",
    optional: true,
    os: [os],
    engines: buf.engines,
  };
}
if (Object.keys(added).length === 0) {
  console.log("fix-lock: the lock already lists every @bufbuild/buf platform package");
  process.exit(0);
}
// Keep npm's order: the platform packages right after @bufbuild/buf, sorted.
const platformKeys = [...Object.keys(packages).filter((key) => key.startsWith(PREFIX)), ...Object.keys(added)].sort();
const ordered = {};
for (const [key, value] of Object.entries(packages)) {
  if (key.startsWith(PREFIX)) continue;
  ordered[key] = value;
  if (key === "node_modules/@bufbuild/buf")
    for (const platformKey of platformKeys) ordered[platformKey] = packages[platformKey] ?? added[platformKey];
}
lock.packages = ordered;
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`fix-lock: added ${Object.keys(added).join(", ")}`);
