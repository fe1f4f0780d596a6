import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { readEvents } from "@pot/client";
import { AdmissionKind, Outcome } from "@pot/contracts";
import { DEFAULT_POLICY, LEGACY_GROWTH_RULES, type Policy } from "@pot/mechanism";
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
} from "./support/players.js";
import { startSystem, type System } from "./support/system.js";
import { redeemRequest } from "./support/workload.js";

const DAY = 86_400_000;
const GENESIS = 32;
const growth = DEFAULT_POLICY.growth;

/**
 * The attacks of issue #10, through gRPC against the three services as processes, under the default
 * policy: the credit farm (controlled identities trying to stake) and the cooperating ring (newcomers
 * staking before maturity, sponsors over quota, related co-sponsors, a flood of pending proposals)
 * are refused with precise statuses, each naming its rule and when it would allow the act again.
 */
describe("growth rules end to end", () => {
  let system: System;
  let genesis: Member[];
  let now = Date.UTC(2031, 2, 1);
  const fresh = () => {
    const member = genesis.shift();
    if (!member) throw new Error("out of genesis members: raise GENESIS");
    return member;
  };
  const advance = async (ms: number) => {
    now += ms;
    await system.setClock(now);
  };
  const refused = async (promise: Promise<unknown>, code: status, pattern: RegExp) => {
    await assert.rejects(promise, (error: Error & { code?: number; details?: string }) => {
      assert.equal(error.code, code, `expected ${status[code]}, got ${error.code}: ${error.details}`);
      assert.match(error.details ?? "", pattern);
      return true;
    });
  };
  const known = (member: Member, token = "") =>
    eventually(`matchmaker to know ${member.id.slice(0, 8)}`, () =>
      system.clients.matchmaker.getStake({ memberId: member.id, minSequence: 0n, consistencyToken: token }),
    );
  const memberOf = async (member: Member, token = "") =>
    (await system.clients.identity.getMember({ memberId: member.id, minSequence: 0n, consistencyToken: token }))
      .member!;
  /** A cooperative game admitting a fresh candidate; returns it once the matchmaker knows it. */
  const admit = async (a: Member, b: Member) => {
    const candidate = newMember();
    const { last } = await playGame(system.clients, a, b, admissionOf(candidate), ["cooperate", "cooperate"]);
    assert.equal(last.outcome, Outcome.OUTCOME_BOTH_COOPERATED);
    await known(candidate, last.consistencyToken);
    return candidate;
  };
  const publish = async (policy: Omit<Policy, "version">) => {
    const published = await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({ ...policy, version: 0 }),
      }),
    );
    // The matchmaker adopts it in reaction; a query with the publication's token waits for that.
    await system.clients.matchmaker.getPairCooldown({
      memberId: genesis[0]!.id,
      partnerId: genesis[1]!.id,
      minSequence: 0n,
      consistencyToken: published.consistencyToken,
    });
    return published.version;
  };

  before(async () => {
    system = await startSystem({ clock: "controlled" });
    await system.setClock(now);
    genesis = Array.from({ length: GENESIS }, newMember);
    await bootstrap(system.clients, genesis);
    await eventually("the default policy", async () =>
      (await system.clients.adjudicator.getPolicy({ version: 0 })).policy?.version === 1 ? true : undefined,
    );
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("credit farm: identities minted by credits can neither propose nor accept (PERMISSION_DENIED), so credits do not compound", async () => {
    const { clients } = system;
    const [a, b, h] = [fresh(), fresh(), fresh()];
    const { last } = await playGame(clients, a, b, admissionOf(newMember()), ["defect", "cooperate"]);
    assert.equal(last.outcome, Outcome.OUTCOME_A_DEFECTED);
    await eventually("a's credits", async () => ((await memberOf(a)).credits === 2 ? true : undefined));
    const [c1, c2] = [newMember(), newMember()];
    for (const c of [c1, c2]) {
      const redeemed = await clients.identity.redeemCredit(redeemRequest(a, c));
      assert.equal((await memberOf(c, redeemed.consistencyToken)).kind, AdmissionKind.ADMISSION_KIND_CONTROLLED);
      await known(c, redeemed.consistencyToken);
    }
    await advance(growth.maturityPeriodMs + DAY); // not a matter of maturity: they never may
    const forbidden =
      /is a controlled identity \(admitted by a credit of [0-9a-f]{64}\): policy v1 forbids controlled identities to stake, so it may never propose or accept a game/;
    // The farm's move: two controlled identities play each other, one defects, the other cooperates.
    await refused(
      clients.matchmaker.propose(proposeRequest(c1, c2, admissionOf(newMember()))),
      status.PERMISSION_DENIED,
      forbidden,
    );
    // Nor with an honest partner, either way round.
    await refused(
      clients.matchmaker.propose(proposeRequest(c1, h, admissionOf(newMember()))),
      status.PERMISSION_DENIED,
      forbidden,
    );
    await refused(
      clients.matchmaker.propose(proposeRequest(h, c2, admissionOf(newMember()))),
      status.PERMISSION_DENIED,
      forbidden,
    );
    // Nor against its own controller (defecting on your own identity).
    await refused(
      clients.matchmaker.propose(proposeRequest(a, c1, admissionOf(newMember()))),
      status.PERMISSION_DENIED,
      forbidden,
    );
    const stake = (await clients.matchmaker.getStake({ memberId: h.id, minSequence: 0n, consistencyToken: "" })).stake;
    assert.equal(stake?.available, true, "the refusals locked nothing");
  });

  test("cooperating ring: a newcomer cannot stake before maturity (FAILED_PRECONDITION, saying from when)", async () => {
    const { clients } = system;
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const x = await admit(a, b);
    const admittedAt = Number((await memberOf(x)).admittedAtMs);
    const from = new Date(admittedAt + growth.maturityPeriodMs).toISOString();
    await refused(
      clients.matchmaker.propose(proposeRequest(x, c, admissionOf(newMember()))),
      status.FAILED_PRECONDITION,
      new RegExp(`was admitted at .* and may not stake before ${from}: the maturity period of policy v1 is 14 d`),
    );
    // As a partner it may be proposed to, but cannot accept.
    const proposal = proposeRequest(c, x, admissionOf(newMember()));
    await clients.matchmaker.propose(proposal);
    await refused(
      clients.matchmaker.accept(answerRequest("accept", x, proposal.proposalId)),
      status.FAILED_PRECONDITION,
      /maturity period/,
    );
    await advance(growth.maturityPeriodMs);
    const later = proposeRequest(x, c, admissionOf(newMember()));
    await clients.matchmaker.propose(later);
    await clients.matchmaker.accept(answerRequest("accept", c, later.proposalId));
  });

  test("cooperating ring: a sponsor over its quota is refused with RESOURCE_EXHAUSTED until its window passes", async () => {
    const { clients } = system;
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const { accepted } = await playGame(clients, a, b, admissionOf(newMember()), ["cooperate", "cooperate"]);
    const { game } = await clients.adjudicator.getGame({
      gameId: accepted.gameId,
      minSequence: 0n,
      consistencyToken: "",
    });
    const openedAt = Number(game!.openedAtMs);
    await advance(DEFAULT_POLICY.admission.stakePeriodMs + DAY); // a's stake is free again
    await refused(
      clients.matchmaker.propose(proposeRequest(a, c, admissionOf(newMember()))),
      status.RESOURCE_EXHAUSTED,
      new RegExp(
        `has been a sponsor of 1 game opened in the last 30 d, the sponsor quota of policy v1 \\(1 per 30 d\\): it may sponsor again from ${new Date(openedAt + growth.sponsorQuotaWindowMs).toISOString()}`,
      ),
    );
    await advance(growth.sponsorQuotaWindowMs);
    await clients.matchmaker.propose(proposeRequest(a, c, admissionOf(newMember())));
  });

  test("cooperating ring: co-sponsors within lineage distance 2 are refused (FAILED_PRECONDITION, for as long as the policy holds)", async () => {
    const { clients } = system;
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const child = await admit(a, b);
    await advance(growth.sponsorQuotaWindowMs); // b's quota allows its next game
    const sibling = await admit(c, b);
    await advance(growth.sponsorQuotaWindowMs); // everyone mature, every quota free
    const rule =
      /policy v1 refuses co-sponsors related within 2 lineage steps or sharing a controller, for as long as it is in force/;
    await refused(
      clients.matchmaker.propose(proposeRequest(child, a, admissionOf(newMember()))),
      status.FAILED_PRECONDITION,
      new RegExp(`${a.id} is a sponsor or controller of ${child.id}`),
    );
    await refused(
      clients.matchmaker.propose(proposeRequest(child, sibling, admissionOf(newMember()))),
      status.FAILED_PRECONDITION,
      new RegExp(`they share the sponsor or controller ${b.id}`),
    );
    await refused(
      clients.matchmaker.propose(proposeRequest(sibling, b, admissionOf(newMember()))),
      status.FAILED_PRECONDITION,
      rule,
    );
    // Unrelated members may: the child and a genesis member that sponsored nobody in its line.
    await clients.matchmaker.propose(proposeRequest(child, fresh(), admissionOf(newMember())));
  });

  test("a flood of proposals: the fourth pending one is refused with RESOURCE_EXHAUSTED until one is answered", async () => {
    const { clients } = system;
    const a = fresh();
    const proposals = [fresh(), fresh(), fresh()].map((partner) =>
      proposeRequest(a, partner, admissionOf(newMember())),
    );
    for (const proposal of proposals) await clients.matchmaker.propose(proposal);
    const firstExpiry = new Date(now + DEFAULT_POLICY.proposalTtlMs).toISOString();
    await refused(
      clients.matchmaker.propose(proposeRequest(a, fresh(), admissionOf(newMember()))),
      status.RESOURCE_EXHAUSTED,
      new RegExp(
        `already has 3 proposals waiting for an answer, the cap of policy v1 \\(3\\).*\\(the first at ${firstExpiry}\\)`,
      ),
    );
    await clients.matchmaker.cancel(answerRequest("cancel", a, proposals[0]!.proposalId));
    await clients.matchmaker.propose(proposeRequest(a, fresh(), admissionOf(newMember())));
  });

  test("PublishPolicy refuses incentive-incompatible growth rules with INVALID_ARGUMENT naming the field", async () => {
    const { clients } = system;
    const { version: _version, ...base } = DEFAULT_POLICY;
    const attempt = async (policy: Omit<Policy, "version">) =>
      clients.adjudicator.publishPolicy(
        await signedPolicy(clients, { requestId: randomUUID(), policy: policyToWire({ ...policy, version: 0 }) }),
      );
    await refused(
      attempt({ ...base, growth: { ...growth, controlledStaking: "allowed", lineageDistance: 0 } }),
      status.INVALID_ARGUMENT,
      /^policy\.admission\.defector_credits: must be at most 1 while a member may play against an identity it controls/,
    );
    await refused(
      attempt({ ...base, growth: { ...growth, controlledStaking: "allowed" } }),
      status.INVALID_ARGUMENT,
      /^policy\.growth\.controlled_staking: must be CONTROLLED_STAKING_FORBIDDEN while admission games grant credits/,
    );
    await refused(
      attempt({ ...base, growth: LEGACY_GROWTH_RULES }),
      status.INVALID_ARGUMENT,
      /^policy\.growth\.controlled_staking: must be set/,
    );
    await refused(
      attempt({ ...base, growth: { ...growth, maturityPeriodMs: DAY } }),
      status.INVALID_ARGUMENT,
      /^policy\.growth\.maturity_period_ms: must be 0 or at least the admission stake period/,
    );
    assert.equal((await clients.adjudicator.getPolicy({ version: 0 })).policy?.version, 1, "nothing was published");
  });

  test("taint: a member sponsored by a controlled identity is marked tainted, never plainly sponsored", async () => {
    const { clients } = system;
    const [a, b, h] = [fresh(), fresh(), fresh()];
    await playGame(clients, a, b, admissionOf(newMember()), ["defect", "cooperate"]);
    await eventually("a's credits", async () => ((await memberOf(a)).credits > 0 ? true : undefined));
    // A network whose games grant no credits may let controlled identities stake; a credit granted
    // before still mints one, and what it sponsors carries the taint.
    const version = await publish({
      ...DEFAULT_POLICY,
      admission: { ...DEFAULT_POLICY.admission, defectorCredits: 0 },
      growth: { ...growth, controlledStaking: "allowed" },
    });
    assert.ok(version >= 2);
    const c = newMember();
    const redeemed = await clients.identity.redeemCredit(redeemRequest(a, c));
    await known(c, redeemed.consistencyToken);
    await advance(growth.maturityPeriodMs);
    const candidate = await admit(c, h);
    const view = await memberOf(candidate);
    assert.equal(view.kind, AdmissionKind.ADMISSION_KIND_SPONSORED);
    assert.equal(view.tainted, true);
    const plain = await memberOf(await admit(fresh(), fresh()));
    assert.equal(plain.tainted, false);
    await publish({ ...DEFAULT_POLICY });
  });

  test("credit cap: credits beyond 2 per 30 days are not granted, and the grant event says how many were capped", async () => {
    const { clients } = system;
    // Two games in a window (a quota of 2) would earn a defector 4 credits; the cap keeps 2.
    await publish({ ...DEFAULT_POLICY, growth: { ...growth, sponsorQuota: 2 } });
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const first = await playGame(clients, a, b, admissionOf(newMember()), ["defect", "cooperate"]);
    assert.equal((await memberOf(a, first.last.consistencyToken)).credits, 2);
    await advance(DEFAULT_POLICY.admission.stakePeriodMs + DAY);
    const second = await playGame(clients, a, c, admissionOf(newMember()), ["defect", "cooperate"]);
    assert.equal(second.last.outcome, Outcome.OUTCOME_A_DEFECTED);
    assert.equal((await memberOf(a, second.last.consistencyToken)).credits, 2, "the second award was capped");
    const grants = [];
    for await (const record of readEvents(system.nc, { namespace: system.namespace, service: "identity" })) {
      const event = record.envelope.event;
      if (event?.$case === "creditsGranted" && event.value.memberId === a.id) grants.push(event.value);
    }
    assert.deepEqual(
      grants.map((g) => [g.gameId, g.count, g.capped]),
      [
        [first.gameId, 2, 0],
        [second.gameId, 0, 2],
      ],
    );
    await publish({ ...DEFAULT_POLICY });
  });
});
