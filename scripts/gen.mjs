// Generates TypeScript from proto/ with buf + ts-proto into proto/src/gen.
// `--check` generates into a temporary folder and fails when the committed code differs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const protoDir = join(root, "proto");
const committed = join(protoDir, "src", "gen");
const check = process.argv.includes("--check");
const buf = join(root, "node_modules", ".bin", "buf");

const work = mkdtempSync(join(tmpdir(), "pot-gen-"));
try {
  const template = JSON.stringify({
    version: "v2",
    plugins: [
      {
        local: join(root, "node_modules", ".bin", "protoc-gen-ts_proto"),
        out: work,
        opt: readFileSync(join(protoDir, "buf.gen.yaml"), "utf8")
          .split("\n")
          .filter((line) => /^\s+- [a-zA-Z]+=/.test(line))
          .map((line) => line.trim().slice(2)),
      },
    ],
  });
  execFileSync(buf, ["generate", "--template", template], { cwd: protoDir, stdio: "inherit" });
  if (!check) {
    rmSync(committed, { recursive: true, force: true });
    cpSync(work, committed, { recursive: true });
    console.log(`generated ${listFiles(committed).length} files into ${relative(root, committed)}`);
  } else {
    const fresh = listFiles(work);
    const old = listFiles(committed);
    const stale = [
      ...fresh.filter((f) => !old.includes(f) || !same(join(work, f), join(committed, f))),
      ...old.filter((f) => !fresh.includes(f)),
    ];
    if (stale.length > 0) {
      console.error(`generated code is stale (${stale.join(", ")}): run \`npm run gen\` and commit the result`);
      process.exitCode = 1;
    } else {
      console.log(`generated code is up to date (${fresh.length} files)`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function listFiles(dir, base = dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(listFiles(path, base));
    else out.push(relative(base, path));
  }
  return out.sort();
}

function same(a, b) {
  return readFileSync(a).equals(readFileSync(b));
}
