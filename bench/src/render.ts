// Usage: node bench/dist/render.js [results.json]
// Evaluates the targets and "What limits us" again from a results file (default
// bench/results/latest.json) and rewrites it and its Markdown: for a change of wording or targets
// without measuring again. The measurements themselves are left as they are.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "@pot/devenv";
import { evaluateTargets, renderMarkdown, renderTable, whatLimitsUs } from "./report.js";
import type { BenchResults } from "./results.js";

const file = process.argv[2] ?? join(repoRoot(), "bench", "results", "latest.json");
const { targets: _targets, whatLimitsUs: _notes, ...measured } = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
const targets = evaluateTargets(measured);
const results: BenchResults = { ...measured, targets, whatLimitsUs: whatLimitsUs({ ...measured, targets }) };
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(file.replace(/\.json$/, ".md"), renderMarkdown(results));
console.log(renderTable(results));
