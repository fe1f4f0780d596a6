import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

let root: string | undefined;

/** The workspace root: the nearest folder above this package whose package.json declares workspaces. */
export function repoRoot(): string {
  if (root !== undefined) return root;
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ("workspaces" in (JSON.parse(readFileSync(manifest, "utf8")) as object)) return (root = dir);
      } catch {
        // not a manifest we can read: keep looking
      }
    }
    if (dirname(dir) === dir) throw new Error(`no workspace root above ${import.meta.dirname}`);
  }
}
