import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  consentPayload,
  generateKeyPair,
  IllegalStateError,
  memberIdOf,
  operatorBootstrapPayload,
  PermissionError,
  redeemPayload,
  sign,
  ValidationError,
} from "@pot/mechanism";
import { decideMember, evolveMember, initialMemberState, availableCredits } from "./member.js";
import {
  decideNetwork,
  evolveNetwork,
  initialNetworkState,
  type NetworkCommand,
  type NetworkState,
} from "./network.js";

const agreement = { hash: new Uint8Array(32).fill(3), uri: "https://example.org/agreement/v1" };
const genesis = () => [0, 1].map((i) => ({ publicKey: generateKeyPair().publicKey, displayName: `g${i}` }));
const NET = { networkId: "net-a", configuredNetworkId: "net-a" };
const OPERATOR = generateKeyPair();

/**
 * A Bootstrap command signed by OPERATOR as the decider requires: at genesis naming OPERATOR's key
 * (1 of 1), forced (on a bootstrapped state) with no keys, signed by the current key.
 */
function bootstrapCommand(
  fields: {
    members: { publicKey: Uint8Array; displayName: string }[];
    agreement: { hash: Uint8Array; uri: string };
    force: boolean;
    networkId: string;
    configuredNetworkId: string;
  },
  state: NetworkState,
): NetworkCommand {
  const genesis = !state.bootstrapped;
  const operatorKeys = genesis ? [OPERATOR.publicKey] : [];
  const operatorThreshold = genesis ? 1 : 0;
  const requestId = "r-" + state.bootstraps;
  const payload = operatorBootstrapPayload(fields.networkId, {
    requestId,
    bootstrapsBefore: state.bootstraps,
    force: fields.force,
    members: fields.members,
    agreement: fields.agreement,
    operatorKeys,
    operatorThreshold,
  });
  return {
    type: "Bootstrap",
    requestId,
    ...fields,
    operatorKeys,
    operatorThreshold,
    signatures: [{ publicKey: OPERATOR.publicKey, signature: sign(payload, OPERATOR.secretKey) }],
  };
}

describe("network decider", () => {
  test("bootstrap records the genesis members and agreement version 1", () => {
    const events = decideNetwork(
      bootstrapCommand({ members: genesis(), agreement, force: false, ...NET }, initialNetworkState),
      initialNetworkState,
    );
    assert.equal(events.length, 1);
    assert.ok(events[0]?.type === "NetworkBootstrapped");
    assert.equal(events[0].agreement.version, 1);
    assert.equal(events[0].networkId, "net-a");
    assert.equal(events.reduce(evolveNetwork, initialNetworkState).networkId, "net-a");
  });

  test("bootstrap must name the network the deployment is configured for", () => {
    const members = genesis();
    assert.throws(
      () =>
        decideNetwork(
          bootstrapCommand({ members, agreement, force: false, ...NET, networkId: "" }, initialNetworkState),
          initialNetworkState,
        ),
      (e: unknown) => e instanceof ValidationError && e.field === "network_id",
    );
    assert.throws(
      () =>
        decideNetwork(
          bootstrapCommand({ members, agreement, force: false, ...NET, networkId: "Net_A" }, initialNetworkState),
          initialNetworkState,
        ),
      (e: unknown) => e instanceof ValidationError && e.field === "network_id",
    );
    assert.throws(
      () =>
        decideNetwork(
          bootstrapCommand({ members, agreement, force: false, ...NET, networkId: "net-b" }, initialNetworkState),
          initialNetworkState,
        ),
      (e: unknown) => e instanceof IllegalStateError && /net-b.*net-a.*POT_NETWORK_ID/.test(e.message),
    );
    const state = decideNetwork(
      bootstrapCommand({ members, agreement, force: false, ...NET }, initialNetworkState),
      initialNetworkState,
    ).reduce(evolveNetwork, initialNetworkState);
    const moved = { networkId: "net-b", configuredNetworkId: "net-b" };
    assert.throws(
      () => decideNetwork(bootstrapCommand({ members, agreement, force: true, ...moved }, state), state),
      (e: unknown) => e instanceof IllegalStateError && /recorded at genesis \('net-a'\)/.test(e.message),
    );
  });

  test("a second bootstrap is refused unless forced", () => {
    const state = decideNetwork(
      bootstrapCommand({ members: genesis(), agreement, force: false, ...NET }, initialNetworkState),
      initialNetworkState,
    ).reduce(evolveNetwork, initialNetworkState);
    assert.throws(
      () => decideNetwork(bootstrapCommand({ members: genesis(), agreement, force: false, ...NET }, state), state),
      IllegalStateError,
    );
    assert.equal(
      decideNetwork(bootstrapCommand({ members: genesis(), agreement, force: true, ...NET }, state), state).length,
      1,
    );
  });

  test("bad genesis input names the field", () => {
    const [first] = genesis();
    assert.throws(
      () =>
        decideNetwork(
          bootstrapCommand({ members: [first!, first!], agreement, force: false, ...NET }, initialNetworkState),
          initialNetworkState,
        ),
      (e: unknown) => e instanceof ValidationError && e.field === "members[1].public_key",
    );
    assert.throws(
      () =>
        decideNetwork(
          bootstrapCommand(
            { members: genesis(), agreement: { ...agreement, hash: new Uint8Array(3) }, force: false, ...NET },
            initialNetworkState,
          ),
          initialNetworkState,
        ),
      (e: unknown) => e instanceof ValidationError && e.field === "agreement.hash",
    );
  });
});

describe("member decider", () => {
  const admit = {
    type: "Admit" as const,
    memberId: "m",
    publicKey: new Uint8Array(32),
    kind: "sponsored" as const,
    sponsorIds: ["a", "b"],
    controllerId: "",
    gameId: "g",
    consent: undefined,
    displayName: "",
    admittedAt: 1,
  };

  test("admission is idempotent: a redelivered resolution admits nobody twice", () => {
    const state = decideMember(admit, initialMemberState("m")).reduce(evolveMember, initialMemberState("m"));
    assert.equal(state.status, "active");
    assert.deepEqual(decideMember(admit, state), []);
  });

  test("credits are granted once per game and expire", () => {
    let state = decideMember(admit, initialMemberState("m")).reduce(evolveMember, initialMemberState("m"));
    const grant = { type: "GrantCredits" as const, gameId: "g1", count: 2, expiresAtMs: 100, grantedAt: 1 };
    state = decideMember(grant, state).reduce(evolveMember, state);
    assert.deepEqual(decideMember(grant, state), []);
    assert.equal(availableCredits(state, 99), 2);
    assert.equal(availableCredits(state, 100), 0);
  });
});

describe("redeeming a credit: the consent must name this controller, this network, and be unexpired", () => {
  const NOW = 1_700_000_000_000;
  const agreementRef = { version: 1, hash: new Uint8Array(32).fill(3) };
  const controllerKeys = generateKeyPair();
  const controllerId = memberIdOf(controllerKeys.publicKey);
  const other = memberIdOf(generateKeyPair().publicKey);
  let state = decideMember(
    {
      type: "Admit",
      memberId: controllerId,
      publicKey: controllerKeys.publicKey,
      kind: "genesis",
      sponsorIds: [],
      controllerId: "",
      gameId: "",
      consent: undefined,
      displayName: "",
      admittedAt: NOW,
    },
    initialMemberState(controllerId),
  ).reduce(evolveMember, initialMemberState(controllerId));
  state = decideMember({ type: "GrantCredits", gameId: "g", count: 2, expiresAtMs: NOW + 1e9 }, state).reduce(
    evolveMember,
    state,
  );

  const redeem = (
    context: { proposalId?: string; controllerId?: string },
    options: { consentNetwork?: string; redeemNetwork?: string; expiresAtMs?: number } = {},
  ) => {
    const candidate = generateKeyPair();
    const terms = {
      candidatePublicKey: candidate.publicKey,
      agreementVersion: 1,
      agreementHash: agreementRef.hash,
      proposalId: context.proposalId ?? "",
      controllerId: context.controllerId ?? "",
      expiresAtMs: options.expiresAtMs ?? NOW + 60_000,
    };
    const consent = {
      ...terms,
      signature: sign(consentPayload(options.consentNetwork ?? "net-a", terms), candidate.secretKey),
    };
    const payload = redeemPayload(options.redeemNetwork ?? "net-a", controllerId, candidate.publicKey, "r1");
    return decideMember(
      {
        type: "RedeemCredit",
        networkId: "net-a",
        requestId: "r1",
        consent,
        signature: sign(payload, controllerKeys.secretKey),
        agreement: agreementRef,
        candidateExists: false,
        now: NOW,
      },
      state,
    );
  };

  test("a consent naming this member as controller is redeemed", () => {
    assert.equal(redeem({ controllerId })[0]?.type, "CreditRedeemed");
  });

  test("the hijack: another candidate's consent for a proposal, or for another controller, is refused", () => {
    assert.throws(
      () => redeem({ proposalId: "00000000-0000-4000-8000-000000000001" }),
      (e: unknown) =>
        e instanceof PermissionError &&
        /consent is for proposal .* not for a credit redeemed by member/.test(e.message),
    );
    assert.throws(
      () => redeem({ controllerId: other }),
      (e: unknown) =>
        e instanceof PermissionError &&
        e.message.includes(`admitted by member ${other}, not by member ${controllerId}`),
    );
  });

  test("an expired consent, or one signed for another network, is refused", () => {
    assert.throws(
      () => redeem({ controllerId }, { expiresAtMs: NOW }),
      (e: unknown) => e instanceof IllegalStateError && /consent expired at/.test(e.message),
    );
    assert.throws(
      () => redeem({ controllerId }, { consentNetwork: "net-b" }),
      (e: unknown) => e instanceof PermissionError && /consent signature does not verify .*'net-a'/.test(e.message),
    );
    assert.throws(
      () => redeem({ controllerId }, { redeemNetwork: "net-b" }),
      (e: unknown) =>
        e instanceof PermissionError && /signature does not verify against the key of member/.test(e.message),
    );
  });
});
