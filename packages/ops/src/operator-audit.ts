import type { Envelope } from "@pot/contracts";
import {
  DEFAULT_POLICY,
  operatorAgreementPayload,
  operatorBootstrapPayload,
  operatorExcludePayload,
  operatorPolicyPayload,
  operatorQuorumProblem,
  operatorRotatePayload,
  sameBytes,
  validateOperatorKeys,
  type OperatorAct,
  type OperatorKeys,
  type OperatorSignature,
} from "@pot/mechanism";
import { operatorKeysFromWire, operatorSignaturesFromWire, policyDigest, policyFromWire } from "@pot/wire";
import type { VerifyMismatch } from "./types.js";

interface RecordedAct {
  readonly requestId: string;
  readonly operatorSignatures: { publicKey: Uint8Array; signature: Uint8Array }[];
  readonly operatorKeysVersion: number;
}

/**
 * Re-checks every operator act the log records (docs/security.md, "Operator acts are signed"): the
 * genesis against the keys it names, every later bootstrap, agreement, exclusion and rotation against
 * the operator keys in force at its place on identity's stream, and every policy on the adjudicator's
 * stream against the key set it names. Identity's events are checked in stream order as they come; the
 * policies once all of identity's key sets are known (the two streams have no common order).
 */
export class OperatorAudit {
  /** Key sets by version (index version - 1), as identity's stream recorded them. */
  private readonly sets: OperatorKeys[] = [];
  private bootstraps = 0;
  /** Request ids of the root exclusions seen, with their member and reason (lineage exclusions repeat them). */
  private readonly roots = new Map<string, { memberId: string; reason: string }>();
  private readonly policies: { seq: number; envelope: Envelope }[] = [];
  readonly mismatches: VerifyMismatch[] = [];
  /** Operator acts checked (for the summary). */
  checked = 0;

  constructor(private readonly networkId: string) {}

  private report(stream: string, seq: number, problem: string): void {
    this.mismatches.push({ stream, seq, gameId: "", problem });
  }

  private current(): OperatorKeys | undefined {
    return this.sets.at(-1);
  }

  /** Why `act` is not a quorum of the key set in force, or undefined when it is. */
  private quorum(act: RecordedAct, name: OperatorAct, payload: Uint8Array): string | undefined {
    const current = this.current();
    if (current === undefined) return `a ${name} act before any operator keys were named`;
    if (act.operatorSignatures.length === 0) return "carries no operator signature";
    if (act.operatorKeysVersion !== current.version) {
      return `signed with operator key set ${act.operatorKeysVersion}, while set ${current.version} was in force`;
    }
    return operatorQuorumProblem(current, name, payload, signaturesOf(act));
  }

  /** An event of identity's stream, in stream order. */
  addIdentity(seq: number, envelope: Envelope): void {
    const event = envelope.event;
    const check = (name: string, problem: string | undefined) => {
      this.checked++;
      if (problem !== undefined) this.report("identity", seq, `forged operator act: ${name}: ${problem}`);
    };
    switch (event?.$case) {
      case "networkBootstrapped": {
        const v = event.value;
        const members = v.members.map((m) => ({ publicKey: m.publicKey, displayName: m.displayName }));
        const agreement = { hash: v.agreement?.hash ?? new Uint8Array(), uri: v.agreement?.uri ?? "" };
        const before = this.bootstraps++;
        if (before === 0) {
          const named = operatorKeysFromWire(v.operators);
          if (!named) return check("genesis NetworkBootstrapped", "names no operator keys");
          try {
            validateOperatorKeys(named.keys, named.threshold);
          } catch (error) {
            return check("genesis NetworkBootstrapped", (error as Error).message);
          }
          const payload = operatorBootstrapPayload(this.networkId, {
            requestId: v.requestId,
            bootstrapsBefore: 0,
            force: v.forced,
            members,
            agreement,
            operatorKeys: named.keys,
            operatorThreshold: named.threshold,
          });
          const problem =
            named.version !== 1
              ? `names operator key set version ${named.version}, not 1`
              : operatorQuorumProblem(named, "bootstrap", payload, signaturesOf(v));
          this.sets.push(named);
          return check("genesis NetworkBootstrapped", problem);
        }
        if (v.operators !== undefined && v.operators.keys.length > 0) {
          return check("forced NetworkBootstrapped", "names operator keys (they change only by rotation)");
        }
        const payload = operatorBootstrapPayload(this.networkId, {
          requestId: v.requestId,
          bootstrapsBefore: before,
          force: v.forced,
          members,
          agreement,
          operatorKeys: [],
          operatorThreshold: 0,
        });
        return check("forced NetworkBootstrapped", this.quorum(v, "bootstrap", payload));
      }
      case "agreementPublished": {
        const v = event.value;
        const agreement = v.agreement;
        if (!agreement) return check("AgreementPublished", "names no agreement");
        const payload = operatorAgreementPayload(
          this.networkId,
          v.requestId,
          agreement.version,
          agreement.hash,
          agreement.uri,
        );
        return check(`AgreementPublished v${agreement.version}`, this.quorum(v, "agreement", payload));
      }
      case "operatorKeysRotated": {
        const v = event.value;
        const next = operatorKeysFromWire(v.operators);
        const current = this.current();
        if (!next) return check("OperatorKeysRotated", "names no keys");
        if (!current) return check("OperatorKeysRotated", "a rotation before any genesis");
        let problem: string | undefined;
        try {
          validateOperatorKeys(next.keys, next.threshold);
          problem =
            next.version !== current.version + 1
              ? `names version ${next.version} after version ${current.version}`
              : operatorQuorumProblem(
                  current,
                  "rotate",
                  operatorRotatePayload(this.networkId, v.requestId, current.version, next.keys, next.threshold),
                  signaturesOf(v),
                );
        } catch (error) {
          problem = (error as Error).message;
        }
        check(`OperatorKeysRotated to version ${next.version}`, problem);
        // A forged rotation is reported, and not believed: later acts are checked against the real keys.
        if (problem === undefined) this.sets.push(next);
        return;
      }
      case "memberExcluded": {
        const v = event.value;
        const root = v.rootMemberId === "" ? v.memberId : v.rootMemberId;
        const reason = v.rootMemberId === "" ? v.reason : v.rootReason;
        if (root !== v.memberId) {
          // A controlled lineage's exclusion: its root's act, which must be on the log before it.
          const seen = this.roots.get(v.requestId);
          this.checked++;
          if (!seen || seen.memberId !== root || seen.reason !== reason) {
            this.report(
              "identity",
              seq,
              `forged operator act: MemberExcluded of ${v.memberId}: no signed exclusion of ${root} (request ${v.requestId}) precedes it`,
            );
          }
          return;
        }
        const payload = operatorExcludePayload(this.networkId, v.requestId, root, reason);
        const problem = this.quorum(v, "exclude", payload);
        if (problem === undefined) this.roots.set(v.requestId, { memberId: root, reason });
        return check(`MemberExcluded of ${v.memberId}`, problem);
      }
      default:
        return;
    }
  }

  /** A PolicyPublished of the adjudicator's stream, checked in finish(). */
  addPolicy(seq: number, envelope: Envelope): void {
    if (envelope.event?.$case === "policyPublished") this.policies.push({ seq, envelope });
  }

  /** Checks the policies against the key sets identity recorded; returns every finding. */
  finish(): VerifyMismatch[] {
    for (const { seq, envelope } of this.policies) {
      if (envelope.event?.$case !== "policyPublished") continue;
      const v = envelope.event.value;
      this.checked++;
      let problem: string | undefined;
      try {
        const { version, ...policy } = policyFromWire(v.policy);
        const digest = policyDigest(policy);
        if (v.requestId === "" && v.operatorSignatures.length === 0) {
          // Only the built-in default, as the adjudicator publishes it on its first start, is unsigned.
          const { version: _default, ...builtIn } = DEFAULT_POLICY;
          if (version !== 1 || !sameBytes(digest, policyDigest(builtIn))) {
            problem = "an unsigned policy that is not the built-in default version 1";
          }
        } else {
          const set = this.sets[v.operatorKeysVersion - 1];
          problem =
            set === undefined
              ? `signed with operator key set ${v.operatorKeysVersion}, which identity's stream never named`
              : operatorQuorumProblem(
                  set,
                  "policy",
                  operatorPolicyPayload(this.networkId, v.requestId, version, digest),
                  signaturesOf(v),
                );
        }
        if (problem !== undefined) problem = `policy version ${version}: ${problem}`;
      } catch (error) {
        problem = `undecodable policy: ${(error as Error).message}`;
      }
      if (problem !== undefined) this.report("adjudicator", seq, `forged operator act: PolicyPublished ${problem}`);
    }
    this.policies.length = 0;
    return this.mismatches;
  }
}

function signaturesOf(act: {
  operatorSignatures: { publicKey: Uint8Array; signature: Uint8Array }[];
}): OperatorSignature[] {
  return operatorSignaturesFromWire(act.operatorSignatures);
}
