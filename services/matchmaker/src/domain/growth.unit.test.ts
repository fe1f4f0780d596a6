import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  actionDigest,
  answerPayload,
  consentPayload,
  DEFAULT_POLICY,
  ExhaustedError,
  generateKeyPair,
  IllegalStateError,
  LEGACY_GROWTH_RULES,
  memberIdOf,
  PermissionError,
  proposePayload,
  sign,
  type ActionSpec,
  type KeyPair,
  type Policy,
} from "@pot/mechanism";
import {
  decideLedger,
  evolveLedger,
  initialLedgerState,
  type LedgerCommand,
  type LedgerState,
  type SponsorAdmission,
} from "./ledger.js";

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 1);
const STAKE = DEFAULT_POLICY.admission.stakePeriodMs;
let counter = 0;
const uuid = () => `00000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`;

interface Who {
  readonly keys: KeyPair;
  readonly id: string;
}

function run(state: LedgerState, command: LedgerCommand): LedgerState {
  return decideLedger(command, state).reduce(evolveLedger, state);
}

const NETWORK = "net-growth";

/** A fresh candidate's consent to be admitted by proposal `proposalId`, valid until `expiresAtMs`. */
function admission(proposalId: string, expiresAtMs: number): ActionSpec {
  const candidate = generateKeyPair();
  const hash = new Uint8Array(32).fill(1);
  const terms = {
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    proposalId,
    controllerId: "",
    expiresAtMs,
  };
  return {
    type: "admission",
    candidatePublicKey: candidate.publicKey,
    agreementVersion: 1,
    agreementHash: hash,
    consentProposalId: proposalId,
    consentControllerId: "",
    consentExpiresAtMs: expiresAtMs,
    consentSignature: sign(consentPayload(NETWORK, terms), candidate.secretKey),
  };
}

/** A ledger under `policy` and a way to register members with their lineage. */
class Network {
  state: LedgerState;
  constructor(policy: Policy = DEFAULT_POLICY) {
    this.state = run(initialLedgerState, { type: "AdoptPolicy", policy });
    this.state = run(this.state, {
      type: "AdoptAgreement",
      agreement: { version: 1, hash: new Uint8Array(32).fill(1), uri: "https://example.org/a" },
    });
  }
  member(admission: SponsorAdmission | undefined): Who {
    const keys = generateKeyPair();
    const id = memberIdOf(keys.publicKey);
    this.state = run(this.state, {
      type: "RegisterSponsor",
      memberId: id,
      publicKey: keys.publicKey,
      ...(admission ? { admission } : {}),
    });
    return { keys, id };
  }
  genesis(): Who {
    return this.member({ kind: "genesis", sponsorIds: [], controllerId: "", admittedAt: T0 });
  }
  sponsored(a: Who, b: Who, admittedAt = T0): Who {
    return this.member({ kind: "sponsored", sponsorIds: [a.id, b.id], controllerId: "", admittedAt });
  }
  controlled(controller: Who, admittedAt = T0): Who {
    return this.member({ kind: "controlled", sponsorIds: [], controllerId: controller.id, admittedAt });
  }
  propose(a: Who, b: Who, now: number, proposalId = uuid()): LedgerCommand {
    const action = admission(proposalId, now + 30 * DAY);
    return {
      type: "Propose",
      networkId: NETWORK,
      proposalId,
      proposerId: a.id,
      partnerId: b.id,
      action,
      signature: sign(proposePayload(NETWORK, proposalId, a.id, b.id, actionDigest(action)), a.keys.secretKey),
      now,
    };
  }
  answer(type: "Accept" | "Cancel", m: Who, proposalId: string, now: number): LedgerCommand {
    return {
      type,
      networkId: NETWORK,
      proposalId,
      memberId: m.id,
      signature: sign(
        answerPayload(NETWORK, type === "Accept" ? "accept" : "cancel", proposalId, m.id),
        m.keys.secretKey,
      ),
      now,
    };
  }
  /** Proposes and accepts: returns the game id. */
  open(a: Who, b: Who, now: number): string {
    const proposal = this.propose(a, b, now);
    this.state = run(this.state, proposal);
    const id = (proposal as { proposalId: string }).proposalId;
    this.state = run(this.state, this.answer("Accept", b, id, now + 1));
    return id;
  }
  refuses(command: LedgerCommand, type: new (...args: never[]) => Error, pattern: RegExp): void {
    assert.throws(
      () => decideLedger(command, this.state),
      (error: unknown) =>
        error instanceof type && (pattern.test(error.message) || assert.fail(`message: ${error.message}`)),
    );
  }
}

describe("controlled identities do not stake (controlled_staking FORBIDDEN)", () => {
  test("a controlled identity can neither propose, be proposed to, nor accept: PERMISSION_DENIED naming the rule", () => {
    const net = new Network();
    const [g, h] = [net.genesis(), net.genesis()];
    const c = net.controlled(g, T0 - 60 * DAY);
    const now = T0 + 60 * DAY;
    net.refuses(
      net.propose(c, h, now),
      PermissionError,
      /controlled identity \(admitted by a credit of .*forbids controlled identities to stake/,
    );
    net.refuses(net.propose(h, c, now), PermissionError, new RegExp(`member ${c.id} is a controlled identity`));
  });

  test("two controlled identities of one controller cannot farm each other (the credit farm)", () => {
    const net = new Network();
    const g = net.genesis();
    const [c1, c2] = [net.controlled(g), net.controlled(g)];
    net.refuses(net.propose(c1, c2, T0 + DAY), PermissionError, /forbids controlled identities to stake/);
  });

  test("under the legacy rules (an old log's policy) a controlled identity stakes as it did", () => {
    const net = new Network({ ...DEFAULT_POLICY, growth: LEGACY_GROWTH_RULES });
    const g = net.genesis();
    const [c1, c2] = [net.controlled(g), net.controlled(g)];
    assert.equal(decideLedger(net.propose(c1, c2, T0 + DAY), net.state)[0]?.type, "ProposalMade");
  });
});

describe("maturity", () => {
  test("a newcomer may not stake before its maturity period ends; the refusal says from when", () => {
    const net = new Network();
    const [a, b, c] = [net.genesis(), net.genesis(), net.genesis()];
    const admittedAt = T0 + DAY;
    const x = net.sponsored(a, b, admittedAt);
    const mature = new Date(admittedAt + DEFAULT_POLICY.growth.maturityPeriodMs).toISOString();
    net.refuses(
      net.propose(x, c, admittedAt + STAKE),
      IllegalStateError,
      new RegExp(`may not stake before ${mature}: the maturity period of policy v1 is 14 d`),
    );
    assert.equal(
      decideLedger(net.propose(x, c, admittedAt + DEFAULT_POLICY.growth.maturityPeriodMs), net.state)[0]?.type,
      "ProposalMade",
    );
  });

  test("an immature partner cannot accept, though it may be proposed to", () => {
    const net = new Network();
    const [a, b, c] = [net.genesis(), net.genesis(), net.genesis()];
    const x = net.sponsored(a, b, T0);
    const proposal = net.propose(c, x, T0 + DAY);
    net.state = run(net.state, proposal);
    const id = (proposal as { proposalId: string }).proposalId;
    net.refuses(net.answer("Accept", x, id, T0 + DAY + 1), IllegalStateError, /maturity period/);
  });

  test("genesis members, and members registered before growth rules, are mature", () => {
    const net = new Network();
    const [a, b] = [net.genesis(), net.genesis()];
    const old = net.member(undefined);
    assert.equal(decideLedger(net.propose(a, b, T0), net.state)[0]?.type, "ProposalMade");
    assert.equal(decideLedger(net.propose(old, b, T0), net.state)[0]?.type, "ProposalMade");
  });
});

describe("sponsor quota", () => {
  test("one game opened as a sponsor per 30 days: the next is refused with RESOURCE_EXHAUSTED until the window passes", () => {
    const net = new Network();
    const [a, b, c, d] = [net.genesis(), net.genesis(), net.genesis(), net.genesis()];
    const gameId = net.open(a, b, T0);
    net.state = run(net.state, {
      type: "SettleGame",
      gameId,
      sponsorIds: [a.id, b.id],
      suspensions: [],
      released: false,
    });
    const later = T0 + STAKE + DAY; // a's stake is free again
    const from = new Date(T0 + 1 + 30 * DAY).toISOString();
    net.refuses(
      net.propose(a, c, later),
      ExhaustedError,
      new RegExp(
        `has been a sponsor of 1 game opened in the last 30 d, the sponsor quota of policy v1 \\(1 per 30 d\\): it may sponsor again from ${from}`,
      ),
    );
    // As partner too: c proposes to b, b cannot accept.
    const proposal = net.propose(c, b, later);
    net.state = run(net.state, proposal);
    net.refuses(
      net.answer("Accept", b, (proposal as { proposalId: string }).proposalId, later + 1),
      ExhaustedError,
      /sponsor quota/,
    );
    assert.equal(decideLedger(net.propose(a, d, T0 + 1 + 30 * DAY), net.state)[0]?.type, "ProposalMade");
  });
});

describe("lineage distance between co-sponsors", () => {
  const net = new Network();
  const [g1, g2, g3, g4, g5, g6] = [1, 2, 3, 4, 5, 6].map(() => net.genesis()) as [Who, Who, Who, Who, Who, Who];
  const old = T0 - 365 * DAY;
  const child = net.sponsored(g1, g2, old);
  const sibling = net.sponsored(g1, g3, old);
  const grandchild = net.sponsored(child, g4, old);
  const other = net.sponsored(g5, g6, old);
  const cousin = net.sponsored(other, g4, old); // shares g4 with grandchild: 1 + 1 = 2 steps
  const farCousin = net.sponsored(sibling, g6, old);
  const now = T0;

  test("parent and child (1 step) are refused, naming the relation and the rule", () => {
    net.refuses(
      net.propose(g1, child, now),
      IllegalStateError,
      new RegExp(
        `${g1.id} is a sponsor or controller of ${child.id}.*refuses co-sponsors related within 2 lineage steps`,
      ),
    );
  });

  test("siblings (a shared sponsor) and grandparent and grandchild (2 steps) are refused", () => {
    net.refuses(
      net.propose(child, sibling, now),
      IllegalStateError,
      new RegExp(`they share the sponsor or controller ${g1.id}`),
    );
    net.refuses(net.propose(g1, grandchild, now), IllegalStateError, /is a grandparent/);
    net.refuses(net.propose(grandchild, cousin, now), IllegalStateError, /they share the sponsor or controller/);
  });

  test("co-parents and members 3 or more steps apart may sponsor together", () => {
    assert.equal(decideLedger(net.propose(g1, g2, now), net.state)[0]?.type, "ProposalMade");
    // grandchild -> child -> g1 <- sibling <- farCousin: 4 steps.
    assert.equal(decideLedger(net.propose(grandchild, farCousin, now), net.state)[0]?.type, "ProposalMade");
  });

  test("a controller and its controlled identities, or two of them, never sponsor together (whatever the distance)", () => {
    const allowed = new Network({
      ...DEFAULT_POLICY,
      admission: { ...DEFAULT_POLICY.admission, defectorCredits: 0 },
      growth: { ...DEFAULT_POLICY.growth, controlledStaking: "allowed", lineageDistance: 1 },
    });
    const g = allowed.genesis();
    const c1 = allowed.controlled(g, old);
    const c2 = allowed.controlled(g, old);
    const c3 = allowed.controlled(c1, old); // controlled by a controlled identity
    allowed.refuses(allowed.propose(g, c1, now), IllegalStateError, new RegExp(`${c1.id} is controlled by ${g.id}`));
    allowed.refuses(allowed.propose(c1, c2, now), IllegalStateError, new RegExp(`both are controlled by ${g.id}`));
    allowed.refuses(allowed.propose(c3, c2, now), IllegalStateError, new RegExp(`both are controlled by ${g.id}`));
  });
});

describe("pending-proposal cap", () => {
  test("a fourth proposal waiting for an answer is refused with RESOURCE_EXHAUSTED; an answer, a cancel or an expiry makes room", () => {
    const net = new Network();
    const a = net.genesis();
    const partners = [1, 2, 3, 4, 5].map(() => net.genesis());
    const ids: string[] = [];
    for (const [i, partner] of partners.slice(0, 3).entries()) {
      const proposal = net.propose(a, partner, T0 + i);
      net.state = run(net.state, proposal);
      ids.push((proposal as { proposalId: string }).proposalId);
    }
    const firstExpiry = new Date(T0 + DEFAULT_POLICY.proposalTtlMs).toISOString();
    net.refuses(
      net.propose(a, partners[3]!, T0 + 10),
      ExhaustedError,
      new RegExp(
        `already has 3 proposals waiting for an answer, the cap of policy v1 \\(3\\).*the first at ${firstExpiry}`,
      ),
    );
    net.state = run(net.state, net.answer("Cancel", a, ids[0]!, T0 + 11));
    assert.equal(decideLedger(net.propose(a, partners[3]!, T0 + 12), net.state)[0]?.type, "ProposalMade");
    // Past the expiry of all three, none is waiting any more.
    assert.equal(
      decideLedger(net.propose(a, partners[4]!, T0 + DEFAULT_POLICY.proposalTtlMs + 3), net.state)[0]?.type,
      "ProposalMade",
    );
  });
});
