import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  decideGame,
  evolveGame,
  gameEventToWire,
  initialGameState,
  policyAggregate,
  type GameEvent,
  type GameState,
} from "@pot/adjudicator";
import { deleteNamespace, ensureServers, uniqueNamespace, type Servers } from "@pot/devenv";
import { envelopeOf, EventStore, streamNames, type EventBody } from "@pot/event-store";
import {
  commitmentOf,
  commitPayload,
  DEFAULT_POLICY,
  generateKeyPair,
  memberIdOf,
  revealPayload,
  sign,
  type ActionSpec,
  type KeyPair,
  type MoveName,
  type Policy,
  NO_OPENING,
} from "@pot/mechanism";
import { verify } from "./verify.js";

const DAY = 86_400_000;
const NETWORK = "net-verify";

interface Player {
  readonly keys: KeyPair;
  readonly id: string;
}

const player = (): Player => {
  const keys = generateKeyPair();
  return { keys, id: memberIdOf(keys.publicKey) };
};

/**
 * verify against an adjudicator stream written by the pure decider itself (no services): a log as
 * the adjudicator writes it checks out, and each kind of forgery is reported at its sequence.
 */
describe("verify", () => {
  let servers: Servers;
  let nc: NatsConnection;
  let store: EventStore;
  const namespace = uniqueNamespace("v");
  const last = new Map<string, number>();
  let t = Date.UTC(2032, 0, 1);

  async function append(subject: string, event: EventBody): Promise<number> {
    const eventId = `${subject}/${randomUUID()}`;
    const envelope = envelopeOf({
      event,
      subject,
      eventId,
      causationId: eventId,
      correlationId: subject,
      occurredAt: new Date(t),
    });
    const { seq } = await store.append(subject, envelope, {
      expectedLastSubjectSequence: last.get(subject) ?? 0,
      msgId: eventId,
    });
    last.set(subject, seq);
    return seq;
  }

  /** A game as the adjudicator decides it, event by event; `tamper` may replace what gets appended. */
  class Game {
    readonly id = randomUUID();
    state: GameState = initialGameState(this.id);
    readonly sealed = new Map<string, { move: MoveName; nonce: Uint8Array }>();

    constructor(
      readonly a: Player,
      readonly b: Player,
      readonly action: ActionSpec = { type: "generic", kind: "post.create", payload: new Uint8Array([1]) },
    ) {}

    get subject() {
      return `${store.names.prefix}.game.${this.id}`;
    }

    async record(events: readonly GameEvent[]): Promise<number[]> {
      const seqs = [];
      for (const event of events) {
        seqs.push(await append(this.subject, gameEventToWire(event)));
        this.state = evolveGame(this.state, event);
      }
      return seqs;
    }

    start(policy: Policy) {
      return decideGame(
        {
          type: "StartGame",
          gameId: this.id,
          sponsorA: { memberId: this.a.id, publicKey: this.a.keys.publicKey },
          sponsorB: { memberId: this.b.id, publicKey: this.b.keys.publicKey },
          action: this.action,
          policy,
          openedAt: t,
          stakePeriodMs: policy.admission.stakePeriodMs,
          opening: NO_OPENING,
        },
        this.state,
      );
    }

    commit(who: Player, move: MoveName) {
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      this.sealed.set(who.id, { move, nonce });
      const commitment = commitmentOf(this.id, who.id, move, nonce);
      return decideGame(
        {
          type: "CommitMove",
          networkId: NETWORK,
          memberId: who.id,
          commitment,
          signature: sign(commitPayload(NETWORK, this.id, who.id, commitment), who.keys.secretKey),
          now: t,
        },
        this.state,
      );
    }

    reveal(who: Player) {
      const { move, nonce } = this.sealed.get(who.id)!;
      return decideGame(
        {
          type: "RevealMove",
          networkId: NETWORK,
          memberId: who.id,
          move,
          nonce,
          signature: sign(revealPayload(NETWORK, this.id, who.id, move, nonce), who.keys.secretKey),
          now: t,
        },
        this.state,
      );
    }
  }

  const policy: Policy = {
    ...DEFAULT_POLICY,
    actionKinds: [{ kind: "post.create", rules: { ...DEFAULT_POLICY.admission, defectorCredits: 0 } }],
  };

  before(async () => {
    servers = await ensureServers();
    nc = await connect({ servers: servers.natsUrl });
    store = await EventStore.open(nc, streamNames(namespace, "adjudicator"), { storage: "memory" });
    await append(
      store.subject("policy", "network"),
      policyAggregate.toWire({ type: "PolicyPublished", policy, publishedAt: t }),
    );
    // Games played by the rules: every outcome of the moves, a no-show, a cancellation.
    for (const moves of [
      ["cooperate", "cooperate"],
      ["defect", "cooperate"],
      ["cooperate", "defect"],
      ["defect", "defect"],
    ] as const) {
      const game = new Game(player(), player());
      await game.record(game.start(policy));
      t += 1_000;
      await game.record(game.commit(game.a, moves[0]));
      await game.record(game.commit(game.b, moves[1]));
      t += 1_000;
      await game.record(game.reveal(game.a));
      await game.record(game.reveal(game.b));
    }
    const absent = new Game(player(), player());
    await absent.record(absent.start(policy));
    await absent.record(absent.commit(absent.a, "cooperate"));
    t += 2 * DAY;
    await absent.record(decideGame({ type: "Tick", now: t }, absent.state));
    const cancelled = new Game(player(), player());
    await cancelled.record(cancelled.start(policy));
    await cancelled.record(decideGame({ type: "CancelGame", now: t, reason: "excluded" }, cancelled.state));
  });

  after(async () => {
    await nc?.close();
    await deleteNamespace(servers.natsUrl, namespace);
    await servers?.stop();
  });

  test("a log written by the rules checks out", async () => {
    const progress: number[] = [];
    const result = await verify({
      natsUrl: servers.natsUrl,
      namespace,
      networkId: NETWORK,
      onProgress: (p) => progress.push(p.events),
    });
    assert.deepEqual(result.mismatches, []);
    assert.equal(result.games, 6);
    assert.equal(result.events, 1 + 4 * 6 + 3 + 2);
    assert.equal(progress.at(-1), result.events);
  });

  test("the same log checked for another network reports every signed move: a signature names its network", async () => {
    const result = await verify({ natsUrl: servers.natsUrl, namespace, networkId: "another-network" });
    assert.ok(result.mismatches.length > 0);
    assert.ok(
      result.mismatches.every((m) => /for network 'another-network'/.test(m.problem)),
      JSON.stringify(result.mismatches[0]),
    );
  });

  test("forged events are reported at their sequence: a wrong outcome, a bad signature, an unpublished policy, a false reveal", async () => {
    // Both reveal; the resolution appended claims that A defected when both cooperated.
    const flipped = new Game(player(), player());
    await flipped.record(flipped.start(policy));
    await flipped.record(flipped.commit(flipped.a, "cooperate"));
    await flipped.record(flipped.commit(flipped.b, "cooperate"));
    await flipped.record(flipped.reveal(flipped.a));
    const [revealB, resolution] = flipped.reveal(flipped.b);
    assert.equal(resolution?.type, "GameResolved");
    await flipped.record([revealB!]);
    const [wrongOutcome] = await flipped.record([
      { ...resolution!, outcome: "a-defected", moveA: "defect" } as GameEvent,
    ]);

    // A commitment signed by someone else.
    const impostor = new Game(player(), player());
    await impostor.record(impostor.start(policy));
    const [commit] = impostor.commit(impostor.a, "defect");
    const [badSignature] = await impostor.record([
      { ...commit!, signature: sign(new Uint8Array([1, 2, 3]), impostor.b.keys.secretKey) } as GameEvent,
    ]);

    // A game opened under a policy version that was never published.
    const unpublished = new Game(player(), player());
    const [started] = await unpublished.record(unpublished.start({ ...policy, version: 7 }));

    // A reveal whose nonce does not open the commitment, validly signed by the member.
    const bluff = new Game(player(), player());
    await bluff.record(bluff.start(policy));
    await bluff.record(bluff.commit(bluff.a, "defect"));
    await bluff.record(bluff.commit(bluff.b, "cooperate"));
    bluff.sealed.set(bluff.a.id, { move: "cooperate", nonce: new Uint8Array(32) });
    const revealed = {
      type: "MoveRevealed",
      gameId: bluff.id,
      memberId: bluff.a.id,
      move: "cooperate",
      nonce: new Uint8Array(32),
      signature: sign(
        revealPayload(NETWORK, bluff.id, bluff.a.id, "cooperate", new Uint8Array(32)),
        bluff.a.keys.secretKey,
      ),
      at: t,
    } as const satisfies GameEvent;
    const [falseReveal] = await bluff.record([revealed]);

    const result = await verify({ natsUrl: servers.natsUrl, namespace, networkId: NETWORK });
    assert.deepEqual(
      result.mismatches.map((m) => [m.seq, m.gameId]),
      [
        [wrongOutcome, flipped.id],
        [badSignature, impostor.id],
        [started, unpublished.id],
        [falseReveal, bluff.id],
      ],
    );
    const [outcome, signature, version, nonce] = result.mismatches.map((m) => m.problem);
    assert.match(outcome!, /outcome is "a-defected", the decider derives "both-cooperated"/);
    assert.match(signature!, /refused by the decider: signature does not verify/);
    assert.match(version!, /policy version 7, which was never published/);
    assert.match(nonce!, /do not open the commitment/);
  });

  test("stake-period retargets are recounted from the log and recomputed: a wrong count or period is reported", async () => {
    const target = {
      admissionsPerInterval: 1,
      intervalMs: DAY,
      maxStepPercent: 50,
      minStakePeriodMs: DAY / 24,
      maxStakePeriodMs: 14 * DAY,
    };
    const targeted: Policy = { ...policy, version: 2, rateTarget: target };
    const policySubject = store.subject("policy", "network");
    const from = await append(
      policySubject,
      policyAggregate.toWire({ type: "PolicyPublished", policy: targeted, publishedAt: t }),
    );
    // One admission, both cooperating, inside the first whole day after the publication.
    const day = Math.ceil(t / DAY);
    t = day * DAY + 3_600_000;
    const candidate = generateKeyPair().publicKey;
    const admitted = new Game(player(), player(), {
      type: "admission",
      candidatePublicKey: candidate,
      agreementVersion: 1,
      agreementHash: new Uint8Array(32),
      consentProposalId: randomUUID(),
      consentControllerId: "",
      consentExpiresAtMs: t + DAY,
      consentSignature: new Uint8Array(64),
    });
    await admitted.record(admitted.start(targeted));
    await admitted.record(admitted.commit(admitted.a, "cooperate"));
    await admitted.record(admitted.commit(admitted.b, "cooperate"));
    await admitted.record(admitted.reveal(admitted.a));
    const resolvedSeqs = await admitted.record(admitted.reveal(admitted.b));
    const retarget = (interval: number, admissions: number, oldMs: number, newMs: number, throughSeq: number) =>
      policyAggregate.toWire({
        type: "StakePeriodRetargeted",
        policyVersion: 2,
        interval,
        intervalStartMs: interval * DAY,
        intervalEndMs: (interval + 1) * DAY,
        admissions,
        targetAdmissions: 1,
        oldStakePeriodMs: oldMs,
        newStakePeriodMs: newMs,
        throughSeq,
      });
    t = (day + 2) * DAY;
    // Right: one admission against a target of one keeps 7 d. Forged: a count the log does not have,
    // and a period the rule does not give for it (5 admissions: 7 d × 1.5 = 10.5 d, not 1 d).
    await append(policySubject, retarget(day, 1, 7 * DAY, 7 * DAY, resolvedSeqs.at(-1)!));
    const forged = await append(policySubject, retarget(day + 1, 5, 7 * DAY, DAY, resolvedSeqs.at(-1)! + 1));

    const result = await verify({ natsUrl: servers.natsUrl, namespace, networkId: NETWORK });
    const mine = result.mismatches.filter((m) => m.seq > from);
    assert.deepEqual(
      mine.map((m) => m.seq),
      [forged, forged],
    );
    assert.match(mine[0]!.problem, /counted 5 admissions; the log has 0 through sequence/);
    assert.match(mine[1]!.problem, /newStakePeriodMs is 86400000, the decider derives 907200000/);
    assert.equal(result.retargets, 2);
  });
});
