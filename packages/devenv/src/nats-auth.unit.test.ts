import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { NATS_SERVICES, natsPasswordVariable, natsPermissions, renderNatsAuthorization } from "./nats-auth.js";
import { repoRoot } from "./repo.js";

test("infra/nats/auth.conf is the rendering of namespace 'pot' (node scripts/nats-auth.mjs rewrites it)", () => {
  const committed = readFileSync(join(repoRoot(), "infra", "nats", "auth.conf"), "utf8");
  assert.equal(
    committed,
    renderNatsAuthorization("pot", (role) => ({ env: natsPasswordVariable(role) })),
  );
});

test("a service's user publishes only on its own stream's and dead letters' subjects; no purge, message delete, stream update or delete", () => {
  for (const service of NATS_SERVICES) {
    const { publish, subscribe } = natsPermissions("pot", service);
    const events = publish.allow.filter((subject) => !subject.startsWith("$JS."));
    assert.deepEqual(events, [`pot.${service}.>`, `pot.dead.${service}.>`]);
    assert.ok(publish.allow.includes(`$JS.API.STREAM.CREATE.POT_DEAD_${service.toUpperCase()}`));
    assert.ok(publish.allow.every((subject) => !/DEAD/.test(subject) || subject.includes(service.toUpperCase())));
    for (const subject of publish.allow) {
      assert.doesNotMatch(subject, /\.(PURGE|MSG\.DELETE|STREAM\.DELETE|STREAM\.UPDATE)\b/, `${service}: ${subject}`);
      // Stream-level API subjects name exactly one stream, never a wildcard.
      if (subject.startsWith("$JS.API.STREAM.")) assert.doesNotMatch(subject, /[>*]/, `${service}: ${subject}`);
    }
    // Consumers on other services' streams: only its own durables, by exact name.
    for (const subject of publish.allow.filter((s) => s.startsWith("$JS.API.CONSUMER") || s.startsWith("$JS.ACK"))) {
      if (subject.includes(`POT_${service.toUpperCase()}`) || subject.includes(`POT_DEAD_${service.toUpperCase()}`)) {
        continue;
      }
      assert.match(subject, new RegExp(`\\.pot_${service}_react_[a-z]+(\\.>)?$`), `${service}: ${subject}`);
      assert.doesNotMatch(subject, /DELETE/);
    }
    assert.deepEqual(subscribe.allow, [`_INBOX_pot_${service}.>`, `pot.clock.${service}`]);
  }
});

test("the reader may not publish events, nor touch the services' durable consumers", () => {
  const { publish, subscribe } = natsPermissions("pot", "reader");
  assert.ok(publish.allow.every((subject) => subject.startsWith("$JS.")));
  assert.ok(publish.allow.every((subject) => !/PURGE|MSG\.DELETE|STREAM\.(DELETE|UPDATE|CREATE)/.test(subject)));
  for (const durable of [
    "pot_identity_react_adjudicator",
    "pot_matchmaker_views_matchmaker",
    "pot_adjudicator_react_matchmaker",
  ]) {
    assert.ok(
      publish.deny?.some((subject) => subject.endsWith(`.${durable}`) && subject.includes("MSG.NEXT")),
      durable,
    );
    assert.ok(
      publish.deny?.some((subject) => subject.includes(`.${durable}`) && subject.startsWith("$JS.ACK")),
      durable,
    );
  }
  assert.deepEqual(subscribe.allow, ["_INBOX_pot_reader.>"]);
  for (const service of NATS_SERVICES) {
    // Reads every dead-letter stream (pot dead-letters list|show); retry is the admin's.
    assert.ok(publish.allow.includes(`$JS.API.STREAM.MSG.GET.POT_DEAD_${service.toUpperCase()}`), service);
    assert.ok(publish.allow.includes(`$JS.API.CONSUMER.CREATE.POT_DEAD_${service.toUpperCase()}.*`), service);
  }
});
