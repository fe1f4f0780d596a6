import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  bootstrapRequest,
  excludeRequest,
  isServiceError,
  operatorSignatures,
  publishAgreementRequest,
  publishPolicyRequest,
  rotateOperatorKeysRequest,
  status,
} from "@pot/client";
import { AgreementPublished, OperatorKeysRotated, PolicyPublished } from "@pot/contracts";
import {
  encodeEnvelope,
  envelopeHeaders,
  envelopeOf,
  natsInboxPrefix,
  streamNames,
  type EventBody,
} from "@pot/event-store";
import {
  DEFAULT_POLICY,
  generateKeyPair,
  operatorPolicyPayload,
  operatorRotatePayload,
  type KeyPair,
  type Policy,
} from "@pot/mechanism";
import type { NatsRole, ServiceName } from "@pot/devenv";
import { verify } from "@pot/ops";
import { policyDigest, policyToWire } from "@pot/wire";
import { eventually } from "./support/clients.js";
import { AGREEMENT, newMember, signedBootstrap, TEST_NETWORK, type Member } from "./support/players.js";
import { readStream } from "./support/streams.js";
import { SERVICES, startSystem, type System } from "./support/system.js";

/**
 * Operator acts are signed (issue #11, item 2; docs/security.md, "Operator acts are signed"): through
 * real gRPC with the operator's client certificate, every kind of unsigned, under-signed, forged,
 * replayed or misdirected operator act is refused with its precise status and sentence, and no stream
 * moves; a rotation makes the old keys worthless; and a forged operator event appended straight to a
 * stream with a service's own NATS credential is refused by the service that consumes it and reported
 * by `pot verify`.
 */
describe("operator acts are signed", () => {
  let system: System;
  const connections: NatsConnection[] = [];
  /** The network's operators: 2 of these 3 must sign. */
  const [k1, k2, k3] = [generateKeyPair(), generateKeyPair(), generateKeyPair()] as [KeyPair, KeyPair, KeyPair];
  const quorum = [k1, k2];
  const genesis: Member[] = Array.from({ length: 4 }, newMember);

  async function as(role: NatsRole): Promise<NatsConnection> {
    const user = system.natsUsers![role];
    const nc = await connect({
      servers: system.natsUrl,
      user: user.user,
      pass: user.password,
      inboxPrefix: natsInboxPrefix(system.namespace, role),
      timeout: 5_000,
    });
    connections.push(nc);
    return nc;
  }

  async function sequences(): Promise<Record<string, number>> {
    const jsm = await jetstreamManager(system.nc);
    const entries = await Promise.all(
      SERVICES.map(async (name) => {
        const info = await jsm.streams.info(streamNames(system.namespace, name).stream);
        return [name, info.state.last_seq] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  /** Waits until no stream has moved for a second (the reactions to an accepted act have settled). */
  async function quiet(): Promise<void> {
    let last = JSON.stringify(await sequences());
    for (let stable = 0; stable < 4;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = JSON.stringify(await sequences());
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
  }

  /** Refused with `code` and a message matching `message`, and not one stream moved. */
  async function refused(what: string, call: () => Promise<unknown>, code: number, message: RegExp): Promise<string> {
    const before = await sequences();
    const error = await call().then(
      () => assert.fail(`${what}: accepted`),
      (e: unknown) => e,
    );
    assert.ok(isServiceError(error), `${what}: ${String(error)}`);
    assert.equal(error.code, code, `${what}: ${error.details}`);
    assert.match(error.details, message, what);
    assert.deepEqual(await sequences(), before, `${what}: a stream moved`);
    return error.details;
  }

  const currentPolicy = async () => (await system.clients.adjudicator.getPolicy({ version: 0 })).policy!.version;
  const agreementNow = () => system.clients.identity.getAgreement({});
  const policy = (): Policy => ({ ...DEFAULT_POLICY, proposalTtlMs: DEFAULT_POLICY.proposalTtlMs + 1 });

  before(async () => {
    system = await startSystem({ secureNats: true });
    await system.clients.identity.bootstrap(
      await signedBootstrap(
        system.clients,
        {
          requestId: randomUUID(),
          members: genesis.map((m, i) => ({ publicKey: m.keys.publicKey, displayName: `g${i}` })),
          agreement: { version: 0, hash: AGREEMENT.hash, uri: AGREEMENT.uri },
          force: false,
          networkId: TEST_NETWORK,
          operatorKeys: [k1.publicKey, k2.publicKey, k3.publicKey],
          operatorThreshold: 2,
        },
        quorum,
      ),
    );
    const answer = await agreementNow();
    assert.equal(answer.operators?.version, 1);
    assert.equal(answer.operators?.threshold, 2);
    assert.equal(answer.operators?.keys.length, 3);
    assert.equal(answer.bootstraps, 1);
  });

  after(async () => {
    for (const nc of connections) await nc.close();
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("unsigned, under-signed, forged, replayed and misdirected acts: precise refusals, nothing appended", async () => {
    const { identity, adjudicator } = system.clients;
    const outsider = generateKeyPair();
    const [target] = genesis as [Member];
    const next = (await currentPolicy()) + 1;
    const rows: string[] = [];
    const row = (kind: string, details: string) => rows.push(`${kind.padEnd(58)} ${details}`);

    // 1. No signature at all (an operator certificate alone).
    row(
      "policy with no operator signature",
      await refused(
        "no signature",
        () => adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), next, [])),
        status.PERMISSION_DENIED,
        /^the policy act carries no operator signature: it must be signed by 2 of the 3 operator key\(s\) of version 1$/,
      ),
    );
    // 2. One of the two signatures needed.
    row(
      "policy signed by 1 of the 2 needed",
      await refused(
        "insufficient",
        () => adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), next, [k1])),
        status.PERMISSION_DENIED,
        /^the policy act is signed by 1 operator key\(s\); it needs 2 of the 3/,
      ),
    );
    // 3. A valid signature and one by a key that is not an operator's.
    row(
      "exclusion signed by an operator and an outsider",
      await refused(
        "outsider",
        () => identity.exclude(excludeRequest(TEST_NETWORK, target.id, "spam", [k1, outsider])),
        status.PERMISSION_DENIED,
        /^operator_signatures\[1\]: key [0-9a-f]{64} is not a current operator key \(version 1\)$/,
      ),
    );
    // 4. The same key twice, to fake a quorum.
    row(
      "agreement signed twice by the same key",
      await refused(
        "duplicate",
        async () =>
          identity.publishAgreement(
            publishAgreementRequest(TEST_NETWORK, { hash: new Uint8Array(32).fill(5), uri: "https://x.org/a2" }, 2, [
              k1,
              k1,
            ]),
          ),
        status.PERMISSION_DENIED,
        /^operator_signatures\[1\]: key [0-9a-f]{64} signs twice; each operator key counts once$/,
      ),
    );
    // 5. Signed by a quorum, for another network.
    row(
      "exclusion signed by the quorum for another network",
      await refused(
        "other network",
        () => identity.exclude(excludeRequest("another-net", target.id, "spam", quorum)),
        status.PERMISSION_DENIED,
        /^operator_signatures\[0\]: the signature by operator key [0-9a-f]{64} does not verify over this exclude payload/,
      ),
    );
    // 6. Altered: a quorum's signatures over one reason, sent with another.
    const signedReason = excludeRequest(TEST_NETWORK, target.id, "spam", quorum);
    row(
      "exclusion whose reason was changed after signing",
      await refused(
        "altered",
        () => identity.exclude({ ...signedReason, reason: "something worse" }),
        status.PERMISSION_DENIED,
        /does not verify over this exclude payload/,
      ),
    );
    // 7. A policy signed for a later version than it would become (signed ahead, or for another state).
    row(
      "policy signed for another version",
      await refused(
        "other version",
        () => adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), next + 1, quorum)),
        status.PERMISSION_DENIED,
        /does not verify over this policy payload/,
      ),
    );
    // 8. Replayed: an accepted policy act's signatures, sent again under a new request id...
    const accepted = publishPolicyRequest(TEST_NETWORK, policy(), next, quorum);
    const published = await adjudicator.publishPolicy(accepted);
    assert.equal(published.version, next);
    await quiet();
    row(
      "an accepted policy's signatures replayed under a new request id",
      await refused(
        "replayed",
        () => adjudicator.publishPolicy({ ...accepted, requestId: randomUUID() }),
        status.PERMISSION_DENIED,
        /does not verify over this policy payload/,
      ),
    );
    // ... and the same request again: its first answer, nothing new.
    const before = await sequences();
    assert.deepEqual(await adjudicator.publishPolicy(accepted), published);
    assert.deepEqual(await sequences(), before);
    // 9. A forced re-bootstrap of the live network: by one key, or naming new keys.
    const forced = (signers: KeyPair[], keys: Uint8Array[] = []) =>
      identity.bootstrap({
        ...bootstrapRequest(
          TEST_NETWORK,
          [newMember(), newMember()].map((m) => ({ publicKey: m.keys.publicKey })),
          AGREEMENT,
          {
            force: true,
            signers,
            bootstrapsBefore: 1,
          },
        ),
        operatorKeys: keys,
        operatorThreshold: keys.length,
      });
    row(
      "forced re-bootstrap signed by 1 of the 2 needed",
      await refused(
        "forced, one key",
        () => forced([k3]),
        status.PERMISSION_DENIED,
        /^the bootstrap act is signed by 1/,
      ),
    );
    row(
      "forced re-bootstrap naming operator keys of its own",
      await refused(
        "forced, naming keys",
        () => forced(quorum, [outsider.publicKey]),
        status.INVALID_ARGUMENT,
        /^operator_keys: must be empty in a forced re-bootstrap: the operator keys change only by RotateOperatorKeys$/,
      ),
    );
    // 10. A forced re-bootstrap signed as if it were the first (replaying the genesis's count).
    row(
      "forced re-bootstrap signed for the genesis's bootstrap count",
      await refused(
        "forced, stale count",
        () =>
          identity.bootstrap(
            bootstrapRequest(
              TEST_NETWORK,
              [newMember(), newMember()].map((m) => ({ publicKey: m.keys.publicKey })),
              AGREEMENT,
              {
                force: true,
                signers: quorum,
                bootstrapsBefore: 0,
                operatorKeys: [],
                operatorThreshold: 0,
              },
            ),
          ),
        status.PERMISSION_DENIED,
        /does not verify over this bootstrap payload/,
      ),
    );
    // 11. Malformed entries and a rotation to an impossible threshold.
    row(
      "signature entry with a 31-byte key",
      await refused(
        "malformed",
        () =>
          identity.exclude({
            ...signedReason,
            operatorSignatures: [{ publicKey: new Uint8Array(31), signature: new Uint8Array(64) }],
          }),
        status.INVALID_ARGUMENT,
        /^operator_signatures\[0\]\.public_key: must be 32 bytes$/,
      ),
    );
    row(
      "rotation to a threshold above its keys",
      await refused(
        "threshold",
        () => identity.rotateOperatorKeys(rotateOperatorKeysRequest(TEST_NETWORK, 1, [outsider.publicKey], 2, quorum)),
        status.INVALID_ARGUMENT,
        /^threshold: is 2, more than the 1 operator key\(s\) named/,
      ),
    );
    row(
      "rotation signed by 1 of the 2 needed",
      await refused(
        "rotation, one key",
        () => identity.rotateOperatorKeys(rotateOperatorKeysRequest(TEST_NETWORK, 1, [outsider.publicKey], 1, [k2])),
        status.PERMISSION_DENIED,
        /^the rotate act is signed by 1 operator key\(s\)/,
      ),
    );
    console.log(["refused operator acts (kind, then the status message):", ...rows].join("\n"));
    // A quorum's real exclusion goes through.
    const exclusion = await identity.exclude(signedReason);
    assert.ok(exclusion.sequence > 0n);
    await quiet();
  });

  test("rotation: the current quorum names new keys; the old ones are refused from then on", async () => {
    const { identity, adjudicator } = system.clients;
    const [k4, k5] = [generateKeyPair(), generateKeyPair()];
    const rotated = await identity.rotateOperatorKeys(
      rotateOperatorKeysRequest(TEST_NETWORK, 1, [k4.publicKey, k5.publicKey], 1, [k2, k3]),
    );
    assert.equal(rotated.version, 2);
    await quiet();
    const answer = await agreementNow();
    assert.equal(answer.operators?.version, 2);
    assert.equal(answer.operators?.threshold, 1);
    // The old quorum, at identity and at the adjudicator (which adopted the rotation from identity's stream).
    const next = (await currentPolicy()) + 1;
    await refused(
      "old keys, policy",
      () => adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), next, [k1, k2])),
      status.PERMISSION_DENIED,
      /^operator_signatures\[0\]: key [0-9a-f]{64} is not a current operator key \(version 2\)$/,
    );
    await refused(
      "old keys, exclusion",
      () => identity.exclude(excludeRequest(TEST_NETWORK, genesis[1]!.id, "spam", [k1, k2])),
      status.PERMISSION_DENIED,
      /is not a current operator key \(version 2\)/,
    );
    await refused(
      "old keys, rotation back",
      () => identity.rotateOperatorKeys(rotateOperatorKeysRequest(TEST_NETWORK, 2, [k1.publicKey], 1, [k1, k2])),
      status.PERMISSION_DENIED,
      /is not a current operator key \(version 2\)/,
    );
    // The rotation itself replayed (it names the set it replaced).
    await refused(
      "rotation replayed",
      () =>
        identity.rotateOperatorKeys(
          rotateOperatorKeysRequest(TEST_NETWORK, 1, [k4.publicKey, k5.publicKey], 1, [k4], randomUUID()),
        ),
      status.PERMISSION_DENIED,
      /does not verify over this rotate payload/,
    );
    // The new key alone (1 of 2) is a quorum now.
    const published = await adjudicator.publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), next, [k5]));
    assert.equal(published.version, next);
    const excluded = await identity.exclude(excludeRequest(TEST_NETWORK, genesis[1]!.id, "spam", [k4]));
    assert.ok(excluded.sequence > 0n);
    await quiet();
    // The matchmaker re-checked and acted on the real acts: it knows both key sets and the new policy.
    const matchmaker = await readEvents("matchmaker");
    assert.deepEqual(
      matchmaker.flatMap((e) =>
        e.envelope.event?.$case === "operatorKeysRecorded" ? [e.envelope.event.value.operators?.version] : [],
      ),
      [1, 2],
    );
    assert.ok(
      matchmaker.some(
        (e) => e.envelope.event?.$case === "policyAdopted" && e.envelope.event.value.policy?.version === next,
      ),
    );
  });

  test("a forged operator event on a stream, with the owner's own NATS credential: not adopted, and pot verify reports it", async () => {
    const forger = generateKeyPair();
    function forged(service: ServiceName, aggregate: string, id: string, event: EventBody) {
      const subject = `${streamNames(system.namespace, service).prefix}.${aggregate}.${id}`;
      const eventId = randomUUID();
      const envelope = envelopeOf({
        event,
        subject,
        eventId,
        causationId: eventId,
        correlationId: eventId,
        occurredAt: new Date(),
      });
      return { subject, data: encodeEnvelope(envelope), headers: envelopeHeaders(envelope) };
    }
    const { operators } = await agreementNow();
    const version = operators!.version;
    // A rotation to the forger's key, "signed" by the forger (identity's stolen password).
    const rotation = forged("identity", "network", "network", {
      $case: "operatorKeysRotated",
      value: OperatorKeysRotated.fromPartial({
        operators: { version: version + 1, keys: [forger.publicKey], threshold: 1 },
        requestId: "forged-rotation",
        operatorSignatures: operatorSignatures(
          operatorRotatePayload(TEST_NETWORK, "forged-rotation", version, [forger.publicKey], 1),
          [forger],
        ),
      }),
    });
    // A policy with one-millisecond stakes, signed by the forger (the adjudicator's stolen password).
    const cheap = { ...DEFAULT_POLICY, admission: { ...DEFAULT_POLICY.admission } };
    const policyVersion = (await currentPolicy()) + 1;
    const policyEvent = forged("adjudicator", "policy", "network", {
      $case: "policyPublished",
      value: PolicyPublished.fromPartial({
        policy: policyToWire({ ...cheap, version: policyVersion }),
        publishedAtMs: BigInt(Date.now()),
        requestId: "forged-policy",
        operatorKeysVersion: version + 1,
        operatorSignatures: operatorSignatures(
          operatorPolicyPayload(TEST_NETWORK, "forged-policy", policyVersion, policyDigest(cheap)),
          [forger],
        ),
      }),
    });
    // An agreement with no signature at all.
    const agreement = forged("identity", "network", "network", {
      $case: "agreementPublished",
      value: AgreementPublished.fromPartial({
        agreement: { version: 9, hash: new Uint8Array(32).fill(9), uri: "https://attacker.example/a" },
      }),
    });
    const jsm = await jetstreamManager(system.nc);
    const last = async (service: ServiceName, subject: string) =>
      (await jsm.streams.getMessage(streamNames(system.namespace, service).stream, { last_by_subj: subject }))?.seq ??
      0;
    const identityJs = jetstream(await as("identity"));
    const rotationAck = await identityJs.publish(rotation.subject, rotation.data, {
      headers: rotation.headers,
      expect: { lastSubjectSequence: await last("identity", rotation.subject) },
    });
    const agreementAck = await identityJs.publish(agreement.subject, agreement.data, {
      headers: agreement.headers,
      expect: { lastSubjectSequence: rotationAck.seq },
    });
    const policyAck = await jetstream(await as("adjudicator")).publish(policyEvent.subject, policyEvent.data, {
      headers: policyEvent.headers,
      expect: { lastSubjectSequence: await last("adjudicator", policyEvent.subject) },
    });

    // The adjudicator refused the forged rotation: the forger's key cannot sign a policy there.
    await eventually("the adjudicator to have handled the forged rotation", async () => {
      const error = await system.clients.adjudicator
        .publishPolicy(publishPolicyRequest(TEST_NETWORK, policy(), (await currentPolicy()) + 1, [forger]))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      return isServiceError(error) && /is not a current operator key \(version 2\)/.test(error.details)
        ? true
        : undefined;
    });
    const adopted = (await readAdjudicatorKeys()).at(-1);
    assert.equal(adopted, 2, "the adjudicator's keys stay at version 2");
    // The matchmaker refused all three: no key set 3, no agreement v9, no forged policy adopted.
    await quiet();
    const matchmaker = await readEvents("matchmaker");
    const recorded = matchmaker.flatMap((e) =>
      e.envelope.event?.$case === "operatorKeysRecorded" ? [e.envelope.event.value.operators?.version] : [],
    );
    assert.deepEqual(recorded, [1, 2]);
    assert.ok(
      !matchmaker.some(
        (e) => e.envelope.event?.$case === "agreementAdopted" && e.envelope.event.value.agreement?.version === 9,
      ),
      "the unsigned agreement was not adopted",
    );
    assert.ok(
      !matchmaker.some(
        (e) => e.envelope.event?.$case === "policyAdopted" && e.envelope.event.value.policy?.version === policyVersion,
      ),
      "the forged policy was not adopted",
    );

    const reader = system.natsUsers!.reader;
    const audit = await verify({
      natsUrl: system.natsUrl,
      natsCredentials: { user: reader.user, password: reader.password },
      namespace: system.namespace,
      networkId: TEST_NETWORK,
    });
    const at = (stream: string, seq: number) => audit.mismatches.find((m) => m.stream === stream && m.seq === seq);
    console.log(
      [
        "pot verify on the forged operator events:",
        ...audit.mismatches.map((m) => `  ${m.stream} seq ${m.seq}: ${m.problem}`),
      ].join("\n"),
    );
    assert.match(
      at("identity", rotationAck.seq)?.problem ?? "",
      /^forged operator act: OperatorKeysRotated to version 3: operator_signatures\[0\]: key [0-9a-f]{64} is not a current operator key \(version 2\)$/,
    );
    assert.match(
      at("identity", agreementAck.seq)?.problem ?? "",
      /^forged operator act: AgreementPublished v9: carries no operator signature$/,
    );
    assert.match(
      at("adjudicator", policyAck.seq)?.problem ?? "",
      /^forged operator act: PolicyPublished policy version \d+: signed with operator key set 3, which identity's stream never named$/,
    );
    // Every real act checked out: the genesis, the agreements, the exclusions, the rotation, the policies.
    assert.equal(audit.mismatches.filter((m) => m.problem.startsWith("forged operator act")).length, 3);
    assert.ok((audit.operatorActs ?? 0) >= 8, `operator acts checked: ${audit.operatorActs}`);
  });

  function readEvents(service: ServiceName) {
    return readStream(system.nc, streamNames(system.namespace, service).stream);
  }

  /** The operator key set versions the adjudicator adopted, from its stream. */
  async function readAdjudicatorKeys(): Promise<number[]> {
    const events = await readEvents("adjudicator");
    return events.flatMap((e) =>
      e.envelope.event?.$case === "operatorKeysAdopted" ? [e.envelope.event.value.operators?.version ?? 0] : [],
    );
  }
});
