#!/usr/bin/env node
// Renders the nats-server `authorization` block (users and permissions) of a network:
//   node scripts/nats-auth.mjs [--namespace pot] [--check]
//   node scripts/nats-auth.mjs --namespace pot --account POT   (the production layout, with accounts)
// Passwords are read by nats-server from its environment (POT_NATS_<ROLE>_PASSWORD). Without
// --namespace it rewrites infra/nats/auth.conf (2.9 users) and infra/nats/accounts.conf (accounts)
// for namespace "pot"; --check fails when either is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { natsPasswordVariable, renderNatsAuthorization } from "../packages/devenv/dist/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const at = args.indexOf("--namespace");
const namespace = at >= 0 ? args[at + 1] : "pot";
if (!namespace || !/^[a-z][a-z0-9_]{0,31}$/.test(namespace)) {
  console.error("nats-auth: --namespace needs a namespace (a lowercase letter, then up to 31 of a-z, 0-9, _)");
  process.exit(2);
}
const accountAt = args.indexOf("--account");
const render = (account) =>
  renderNatsAuthorization(namespace, (role) => ({ env: natsPasswordVariable(role) }), account ? { account } : {});
if (at >= 0) {
  process.stdout.write(render(accountAt >= 0 ? args[accountAt + 1] : undefined));
} else {
  for (const [name, text] of [
    ["auth.conf", render(undefined)],
    ["accounts.conf", render("POT")],
  ]) {
    const file = join(root, "infra", "nats", name);
    if (args.includes("--check")) {
      if (readFileSync(file, "utf8") !== text) {
        console.error(`nats-auth: ${file} is stale; run node scripts/nats-auth.mjs`);
        process.exit(1);
      }
    } else {
      writeFileSync(file, text);
    }
  }
}
