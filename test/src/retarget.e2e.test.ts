import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { streamNames } from "@pot/event-store";
import { DEFAULT_POLICY, type Policy } from "@pot/mechanism";
import { verify } from "@pot/ops";
import { policyToWire } from "@pot/wire";
import { eventually } from "./support/clients.js";
import {
  admissionOf,
  answerRequest,
  bootstrap,
  type Member,
  newMember,
  playGame,
  proposeRequest,
  signedPolicy,
  TEST_NETWORK,
} from "./support/players.js";
import { readStream } from "./support/streams.js";
import { startSystem, type System } from "./support/system.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The adjudicator retargets an interval this long after it ends (RETARGET_GRACE_MS). */
const GRACE = 5_000;

/**
 * Rate targeting through the three services as processes, with the controlled clock: a policy with a
 * target of one admission per day; two admissions in a day retarget the stake period up by the bounded
 * step at the end of the day (one StakePeriodRetargeted, however often the adjudicator sweeps), GetPolicy
 * shows it, the matchmaker adopts it, and a game opened afterwards locks its stakes for the new period.
 */
describe("rate targeting: the stake period retargeted from the log", () => {
  let system: System;
  let g: Member[];
  const day0 = Math.floor(Date.UTC(2034, 2, 1) / DAY);
  let now = day0 * DAY + HOUR;
  const policy: Omit<Policy, "version"> = {
    ...DEFAULT_POLICY,
    rateTarget: {
      admissionsPerInterval: 1,
      intervalMs: DAY,
      maxStepPercent: 50,
      minStakePeriodMs: HOUR,
      maxStakePeriodMs: 14 * DAY,
    },
  };
  const setClock = async (at: number) => {
    now = at;
    await system.setClock(now);
  };
  const retargets = async () =>
    (await readStream(system.nc, streamNames(system.namespace, "adjudicator").stream)).flatMap((stored) =>
      stored.envelope.event?.$case === "stakePeriodRetargeted" ? [stored.envelope.event.value] : [],
    );

  before(async () => {
    system = await startSystem({ clock: "controlled" });
    await setClock(now);
    g = Array.from({ length: 8 }, newMember);
    await bootstrap(system.clients, g);
    await eventually("the default policy", async () =>
      (await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version === 1 ? true : undefined,
    );
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("two admissions in a day against a target of one: the period rises by the bounded step, once; new games lock it", async () => {
    const { adjudicator, matchmaker } = system.clients;
    const published = await adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({ ...policy, version: 0 }),
      }),
    );
    assert.equal(published.version, 2);
    // Retargeting starts with the first whole day after the publication.
    await setClock((day0 + 1) * DAY + HOUR);
    await eventually("the matchmaker to adopt policy v2", async () => {
      const ledger = await readStream(system.nc, streamNames(system.namespace, "matchmaker").stream);
      return ledger.some(
        (stored) =>
          stored.envelope.event?.$case === "policyAdopted" && stored.envelope.event.value.policy?.version === 2,
      )
        ? true
        : undefined;
    });
    await playGame(system.clients, g[0]!, g[1]!, admissionOf(newMember()), ["cooperate", "cooperate"]);
    await playGame(system.clients, g[2]!, g[3]!, admissionOf(newMember()), ["cooperate", "cooperate"]);
    assert.deepEqual(await retargets(), [], "nothing before the day has ended");

    // The day ends; the sweep (run when the clock moves) retargets it once the grace has passed too.
    await setClock((day0 + 2) * DAY + GRACE + 1);
    const [event] = await eventually("the retarget", async () => {
      const found = await retargets();
      return found.length > 0 ? found : undefined;
    });
    assert.equal(event!.policyVersion, 2);
    assert.equal(event!.interval, BigInt(day0 + 1));
    assert.equal(event!.intervalStartMs, BigInt((day0 + 1) * DAY));
    assert.equal(event!.intervalEndMs, BigInt((day0 + 2) * DAY));
    assert.equal(event!.admissions, 2);
    assert.equal(event!.targetAdmissions, 1);
    assert.equal(event!.oldStakePeriodMs, BigInt(7 * DAY));
    // 7 d × 2/1 = 14 d, but one step is at most ×1.5: 10.5 d.
    assert.equal(event!.newStakePeriodMs, BigInt(10.5 * DAY));

    // More sweeps (each clock move runs one) retarget nothing twice.
    await setClock(now + 1);
    await setClock(now + 1);
    assert.equal((await retargets()).length, 1);

    const shown = await adjudicator.getPolicy({ version: 0 });
    assert.equal(shown.policy?.version, 2);
    assert.equal(shown.admissionStakePeriodMs, BigInt(10.5 * DAY));
    assert.equal(shown.lastRetarget?.admissions, 2);

    // The matchmaker adopts it; a game opened afterwards locks both stakes for 10.5 days.
    await eventually("the matchmaker to adopt the retargeted period", async () => {
      const ledger = await readStream(system.nc, streamNames(system.namespace, "matchmaker").stream);
      return ledger.some((stored) => stored.envelope.event?.$case === "stakePeriodAdopted") ? true : undefined;
    });
    const proposal = proposeRequest(g[4]!, g[5]!, admissionOf(newMember()));
    await matchmaker.propose(proposal);
    const accepted = await matchmaker.accept(answerRequest("accept", g[5]!, proposal.proposalId));
    assert.equal(accepted.stakeLockedUntilMs, BigInt(now + 10.5 * DAY));
    // The adjudicator's GameStarted records the retargeted period the stakes were locked for.
    const gameStarted = await eventually(
      "the game to start",
      async () =>
        (await readStream(system.nc, streamNames(system.namespace, "adjudicator").stream)).flatMap((stored) =>
          stored.envelope.event?.$case === "gameStarted" && stored.envelope.event.value.gameId === proposal.proposalId
            ? [stored.envelope.event.value]
            : [],
        )[0],
    );
    assert.equal(gameStarted.stakePeriodMs, BigInt(10.5 * DAY));

    // pot verify recounts the interval's admissions from the log and recomputes the period: no mismatch.
    const audit = await verify({ natsUrl: system.natsUrl, namespace: system.namespace, networkId: TEST_NETWORK });
    assert.deepEqual(audit.mismatches, []);
    assert.equal(audit.retargets, 1);
  });
});
