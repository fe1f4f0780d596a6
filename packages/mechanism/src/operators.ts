import {
  bytesToHex,
  isValidPublicKey,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  sameBytes,
  sha256,
  verify,
} from "./crypto.js";
import { PermissionError, ValidationError } from "./errors.js";
import { encodeFields } from "./payloads.js";

/**
 * Operator acts (a policy, an agreement, an exclusion, a forced re-bootstrap, a key rotation) are
 * signed by operator keys named at genesis: at least `threshold` distinct keys of the current set
 * must sign the act's canonical payload. docs/api.md ("Operator signatures") describes each payload
 * byte by byte; a client certificate with the operator role only lets a program submit an act.
 */
export const OPERATOR_DOMAIN = {
  bootstrap: "pot/v1/operator/bootstrap",
  policy: "pot/v1/operator/policy",
  agreement: "pot/v1/operator/agreement",
  exclude: "pot/v1/operator/exclude",
  rotate: "pot/v1/operator/rotate",
  genesisMembers: "pot/v1/genesis-members",
} as const;

export type OperatorAct = Exclude<keyof typeof OPERATOR_DOMAIN, "genesisMembers">;

export const MAX_OPERATOR_KEYS = 16;
/** A request carries at most this many signatures (one per key at most). */
export const MAX_OPERATOR_SIGNATURES = MAX_OPERATOR_KEYS;

/** The operator keys in force: version 1 from genesis, one more per rotation. */
export interface OperatorKeys {
  readonly version: number;
  readonly keys: readonly Uint8Array[];
  readonly threshold: number;
}

export interface OperatorSignature {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** INVALID_ARGUMENT unless 1-16 distinct valid Ed25519 keys and 1 <= threshold <= keys. */
export function validateOperatorKeys(
  keys: readonly Uint8Array[],
  threshold: number,
  fields: { keys: string; threshold: string } = { keys: "operator_keys", threshold: "operator_threshold" },
): void {
  if (keys.length === 0) {
    throw new ValidationError(
      fields.keys,
      "name at least one operator key (Ed25519, 32 bytes): every operator act is signed by them",
    );
  }
  if (keys.length > MAX_OPERATOR_KEYS)
    throw new ValidationError(fields.keys, `at most ${MAX_OPERATOR_KEYS} operator keys`);
  const seen = new Set<string>();
  keys.forEach((key, index) => {
    if (key.length !== PUBLIC_KEY_BYTES || !isValidPublicKey(key)) {
      throw new ValidationError(`${fields.keys}[${index}]`, "is not a valid 32-byte Ed25519 public key");
    }
    const hex = bytesToHex(key);
    if (seen.has(hex)) throw new ValidationError(`${fields.keys}[${index}]`, `duplicates operator key ${hex}`);
    seen.add(hex);
  });
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new ValidationError(fields.threshold, "must be at least 1: how many operator keys must sign each act");
  }
  if (threshold > keys.length) {
    throw new ValidationError(
      fields.threshold,
      `is ${threshold}, more than the ${keys.length} operator key(s) named: no act could ever be signed`,
    );
  }
}

/** INVALID_ARGUMENT for signatures of the wrong shape, before any key is looked at. */
export function validateOperatorSignatures(
  signatures: readonly OperatorSignature[],
  field = "operator_signatures",
): void {
  if (signatures.length > MAX_OPERATOR_SIGNATURES) {
    throw new ValidationError(field, `at most ${MAX_OPERATOR_SIGNATURES} signatures (one per operator key)`);
  }
  signatures.forEach((entry, index) => {
    if (entry.publicKey.length !== PUBLIC_KEY_BYTES) {
      throw new ValidationError(`${field}[${index}].public_key`, `must be ${PUBLIC_KEY_BYTES} bytes`);
    }
    if (entry.signature.length !== SIGNATURE_BYTES) {
      throw new ValidationError(`${field}[${index}].signature`, `must be ${SIGNATURE_BYTES} bytes`);
    }
  });
}

/**
 * Why `signatures` are not a quorum of `operators` over `payload`, or undefined when they are. Strict:
 * every signature must be by a distinct current key and verify; then at least `threshold` of them.
 * Pure; the caller turns a reason into a refusal (PermissionError) or a refused event.
 */
export function operatorQuorumProblem(
  operators: OperatorKeys,
  act: OperatorAct,
  payload: Uint8Array,
  signatures: readonly OperatorSignature[],
): string | undefined {
  const quorum = `${operators.threshold} of the ${operators.keys.length} operator key(s) of version ${operators.version}`;
  if (signatures.length === 0) return `the ${act} act carries no operator signature: it must be signed by ${quorum}`;
  if (signatures.length > MAX_OPERATOR_SIGNATURES)
    return `the ${act} act carries more than ${MAX_OPERATOR_SIGNATURES} signatures`;
  const signers = new Set<string>();
  for (const [index, entry] of signatures.entries()) {
    const hex = bytesToHex(entry.publicKey);
    if (!operators.keys.some((key) => sameBytes(key, entry.publicKey))) {
      return `operator_signatures[${index}]: key ${hex} is not a current operator key (version ${operators.version})`;
    }
    if (signers.has(hex)) {
      return `operator_signatures[${index}]: key ${hex} signs twice; each operator key counts once`;
    }
    if (!verify(entry.signature, payload, entry.publicKey)) {
      return (
        `operator_signatures[${index}]: the signature by operator key ${hex} does not verify over this ${act} ` +
        "payload (signed for other content, another request id, another version or another network)"
      );
    }
    signers.add(hex);
  }
  if (signers.size < operators.threshold) {
    return `the ${act} act is signed by ${signers.size} operator key(s); it needs ${quorum}`;
  }
  return undefined;
}

/** PERMISSION_DENIED unless `signatures` are a quorum of `operators` (see operatorQuorumProblem). */
export function requireOperatorQuorum(
  operators: OperatorKeys | undefined,
  act: OperatorAct,
  payload: Uint8Array,
  signatures: readonly OperatorSignature[],
): void {
  if (operators === undefined) {
    throw new PermissionError(`no operator keys are known: the network must be bootstrapped before a ${act} act`);
  }
  const problem = operatorQuorumProblem(operators, act, payload, signatures);
  if (problem !== undefined) throw new PermissionError(problem);
}

function keyList(threshold: number, keys: readonly Uint8Array[]): (number | Uint8Array)[] {
  return [threshold, keys.length, ...keys];
}

/** SHA-256 over the genesis members: tag, count (u32), then each member's key (32 bytes) and display name. */
export function genesisMembersDigest(members: readonly { publicKey: Uint8Array; displayName: string }[]): Uint8Array {
  return sha256(
    encodeFields(
      OPERATOR_DOMAIN.genesisMembers,
      members.length,
      ...members.flatMap((member) => [member.publicKey, member.displayName]),
    ),
  );
}

export interface BootstrapAct {
  readonly requestId: string;
  /** NetworkBootstrapped events before this one: 0 for the genesis, so a forced re-bootstrap applies once. */
  readonly bootstrapsBefore: number;
  readonly force: boolean;
  readonly members: readonly { publicKey: Uint8Array; displayName: string }[];
  readonly agreement: { readonly hash: Uint8Array; readonly uri: string };
  /** The operator keys the genesis names; empty in a forced re-bootstrap (keys change by rotation only). */
  readonly operatorKeys: readonly Uint8Array[];
  readonly operatorThreshold: number;
}

export function operatorBootstrapPayload(networkId: string, act: BootstrapAct): Uint8Array {
  return encodeFields(
    OPERATOR_DOMAIN.bootstrap,
    networkId,
    act.requestId,
    act.bootstrapsBefore,
    act.force ? 1 : 0,
    genesisMembersDigest(act.members),
    act.agreement.hash,
    act.agreement.uri,
    ...keyList(act.operatorThreshold, act.operatorKeys),
  );
}

/** `version` is the version the policy becomes; `policyDigest` is SHA-256 of its protobuf encoding (see @pot/wire). */
export function operatorPolicyPayload(
  networkId: string,
  requestId: string,
  version: number,
  policyDigest: Uint8Array,
): Uint8Array {
  return encodeFields(OPERATOR_DOMAIN.policy, networkId, requestId, version, policyDigest);
}

/** `version` is the version the agreement has once published (the current one when its hash is current). */
export function operatorAgreementPayload(
  networkId: string,
  requestId: string,
  version: number,
  hash: Uint8Array,
  uri: string,
): Uint8Array {
  return encodeFields(OPERATOR_DOMAIN.agreement, networkId, requestId, version, hash, uri);
}

export function operatorExcludePayload(
  networkId: string,
  requestId: string,
  memberId: string,
  reason: string,
): Uint8Array {
  return encodeFields(OPERATOR_DOMAIN.exclude, networkId, requestId, memberId, reason);
}

/** Signed by the current quorum: `currentVersion` is the set being replaced, so a rotation applies once. */
export function operatorRotatePayload(
  networkId: string,
  requestId: string,
  currentVersion: number,
  keys: readonly Uint8Array[],
  threshold: number,
): Uint8Array {
  return encodeFields(OPERATOR_DOMAIN.rotate, networkId, requestId, currentVersion, ...keyList(threshold, keys));
}

/** Where a service learns operator keys from (identity's stream): the genesis, or a rotation. */
export type OperatorKeysSource =
  | {
      readonly type: "genesis";
      readonly act: BootstrapAct;
      readonly operators: OperatorKeys;
      readonly signatures: readonly OperatorSignature[];
    }
  | {
      readonly type: "rotation";
      readonly requestId: string;
      readonly operators: OperatorKeys;
      readonly signatures: readonly OperatorSignature[];
    };

/**
 * Whether a service that knows `current` (undefined before genesis) may adopt the keys of `source`,
 * re-checked as identity checked them: "known" when it has them already (a redelivery), a reason
 * when the event is not what identity could have appended (a forgery), else "adopt". A genesis must
 * be signed by a quorum of the keys it names; a rotation by a quorum of the set it replaces.
 */
export function operatorKeysAdoption(
  networkId: string,
  current: OperatorKeys | undefined,
  source: OperatorKeysSource,
): "adopt" | "known" | { readonly refused: string } {
  if (current !== undefined && current.version >= source.operators.version) return "known";
  const expected = (current?.version ?? 0) + 1;
  if (source.operators.version !== expected) {
    return { refused: `operator keys version ${source.operators.version} follows version ${current?.version ?? 0}` };
  }
  try {
    validateOperatorKeys(source.operators.keys, source.operators.threshold);
  } catch (error) {
    return { refused: (error as Error).message };
  }
  const problem =
    source.type === "genesis"
      ? operatorQuorumProblem(
          source.operators,
          "bootstrap",
          operatorBootstrapPayload(networkId, source.act),
          source.signatures,
        )
      : current === undefined
        ? "a rotation before any genesis"
        : operatorQuorumProblem(
            current,
            "rotate",
            operatorRotatePayload(
              networkId,
              source.requestId,
              current.version,
              source.operators.keys,
              source.operators.threshold,
            ),
            source.signatures,
          );
  return problem === undefined ? "adopt" : { refused: problem };
}

/** An operator act as an event records it: its signatures and the key set version they are of. */
export interface RecordedOperatorAct {
  readonly signatures: readonly OperatorSignature[];
  readonly keysVersion: number;
}

/**
 * Why a recorded act is not a quorum of the key set it names (`sets[keysVersion - 1]`), undefined when
 * it is, or "unknown-keys" when the consumer has not learnt that key set yet (it is on another stream:
 * retry later). For a service that consumes another service's events and must not act on a forgery.
 */
export function recordedActProblem(
  sets: readonly OperatorKeys[],
  act: RecordedOperatorAct | undefined,
  name: OperatorAct,
  payload: Uint8Array,
): string | "unknown-keys" | undefined {
  if (act === undefined || act.signatures.length === 0) return `the ${name} act carries no operator signature`;
  if (!Number.isInteger(act.keysVersion) || act.keysVersion < 1) {
    return `the ${name} act names operator key set ${act.keysVersion}`;
  }
  const set = sets[act.keysVersion - 1];
  if (set === undefined) return "unknown-keys";
  return operatorQuorumProblem(set, name, payload, act.signatures);
}
