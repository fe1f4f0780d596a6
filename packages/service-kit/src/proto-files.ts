import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const CONTRACTS = "@pot/contracts";
const require = createRequire(import.meta.url);

/**
 * The root of the @pot/contracts package, which holds `pot/v1/*.proto`. Its `exports` hide
 * `package.json`, so resolve its entry point and walk up to the manifest that names it.
 */
export function contractsProtoRoot(): string {
  let dir = path.dirname(require.resolve(CONTRACTS));
  while (!isContractsRoot(dir)) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${CONTRACTS} package folder holding the .proto files`);
    dir = parent;
  }
  if (!existsSync(path.join(dir, "pot", "v1"))) {
    throw new Error(`${CONTRACTS} at ${dir} has no pot/v1 folder of .proto files`);
  }
  return dir;
}

function isContractsRoot(dir: string): boolean {
  const manifest = path.join(dir, "package.json");
  if (!existsSync(manifest)) return false;
  return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === CONTRACTS;
}

/** Every `pot/v1/*.proto`, relative to `root`, in a stable order. */
export function contractsProtoFiles(root: string = contractsProtoRoot()): string[] {
  return readdirSync(path.join(root, "pot", "v1"))
    .filter((file) => file.endsWith(".proto"))
    .sort()
    .map((file) => `pot/v1/${file}`);
}
