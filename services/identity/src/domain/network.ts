import {
  HASH_BYTES,
  IllegalStateError,
  isNetworkId,
  isValidPublicKey,
  memberIdOf,
  operatorAgreementPayload,
  operatorBootstrapPayload,
  operatorRotatePayload,
  requireOperatorQuorum,
  validateOperatorKeys,
  validateOperatorSignatures,
  ValidationError,
  sameBytes,
  type OperatorKeys,
  type OperatorSignature,
} from "@pot/mechanism";

export interface Agreement {
  readonly version: number;
  readonly hash: Uint8Array;
  readonly uri: string;
}

export interface GenesisMember {
  readonly publicKey: Uint8Array;
  readonly displayName: string;
}

/** The network as a whole: whether it has been bootstrapped, its agreement versions and operator keys. */
export interface NetworkState {
  readonly bootstrapped: boolean;
  /** The network id recorded at genesis; empty for a network bootstrapped before ids existed. */
  readonly networkId: string;
  readonly agreements: readonly Agreement[];
  /** The operator keys in force; undefined before genesis (or for a network bootstrapped before keys existed). */
  readonly operators: OperatorKeys | undefined;
  /** NetworkBootstrapped events so far. */
  readonly bootstraps: number;
}

/** An operator act as its event records it: its request id, its signatures and the key set they are of. */
export interface OperatorActRecord {
  readonly requestId: string;
  readonly signatures: readonly OperatorSignature[];
  readonly keysVersion: number;
}

export type NetworkEvent =
  | {
      readonly type: "NetworkBootstrapped";
      readonly members: readonly GenesisMember[];
      readonly agreement: Agreement;
      readonly forced: boolean;
      readonly networkId: string;
      /** Genesis: the operator keys it names (version 1); undefined when forced, or in events before keys existed. */
      readonly operators?: OperatorKeys;
      /** The act (its keysVersion is 0 at genesis: the named keys signed it). */
      readonly act?: OperatorActRecord;
    }
  | { readonly type: "AgreementPublished"; readonly agreement: Agreement; readonly act?: OperatorActRecord }
  | {
      readonly type: "OperatorKeysRotated";
      readonly operators: OperatorKeys;
      readonly requestId: string;
      readonly signatures: readonly OperatorSignature[];
    };

export type NetworkCommand =
  | {
      readonly type: "Bootstrap";
      readonly requestId: string;
      readonly members: readonly GenesisMember[];
      readonly agreement: { readonly hash: Uint8Array; readonly uri: string };
      readonly force: boolean;
      /** The network id the operator names. */
      readonly networkId: string;
      /** The network id this deployment is configured with (POT_NETWORK_ID): the two must match. */
      readonly configuredNetworkId: string;
      /** Genesis: the operator keys and threshold; empty (and 0) in a forced re-bootstrap. */
      readonly operatorKeys: readonly Uint8Array[];
      readonly operatorThreshold: number;
      readonly signatures: readonly OperatorSignature[];
    }
  | {
      readonly type: "PublishAgreement";
      readonly requestId: string;
      readonly hash: Uint8Array;
      readonly uri: string;
      readonly networkId: string;
      readonly signatures: readonly OperatorSignature[];
    }
  | {
      readonly type: "RotateOperatorKeys";
      readonly requestId: string;
      readonly keys: readonly Uint8Array[];
      readonly threshold: number;
      readonly networkId: string;
      readonly signatures: readonly OperatorSignature[];
    };

export const NETWORK_ID = "network";
export const MAX_GENESIS_MEMBERS = 1_000;

export const initialNetworkState: NetworkState = {
  bootstrapped: false,
  networkId: "",
  agreements: [],
  operators: undefined,
  bootstraps: 0,
};

export function currentAgreement(state: NetworkState): Agreement | undefined {
  return state.agreements[state.agreements.length - 1];
}

export function decideNetwork(command: NetworkCommand, state: NetworkState): NetworkEvent[] {
  switch (command.type) {
    case "Bootstrap": {
      if (command.networkId === "") {
        throw new ValidationError(
          "network_id",
          `is required: name the network (this deployment is '${command.configuredNetworkId}')`,
        );
      }
      if (!isNetworkId(command.networkId)) {
        throw new ValidationError("network_id", "must be 1-64 characters of a-z, 0-9 and '-'");
      }
      if (command.networkId !== command.configuredNetworkId) {
        throw new IllegalStateError(
          `network_id '${command.networkId}' is not the network this deployment is configured for ('${command.configuredNetworkId}', POT_NETWORK_ID)`,
        );
      }
      if (state.networkId !== "" && command.networkId !== state.networkId) {
        throw new IllegalStateError(
          `network_id '${command.networkId}' is not the network recorded at genesis ('${state.networkId}')`,
        );
      }
      if (state.bootstrapped && !command.force) {
        throw new IllegalStateError("the network already has members; bootstrap again only with force");
      }
      if (command.members.length < 2) {
        throw new ValidationError("members", "at least two genesis members are needed to play the first game");
      }
      if (command.members.length > MAX_GENESIS_MEMBERS) {
        throw new ValidationError("members", `at most ${MAX_GENESIS_MEMBERS} genesis members per call`);
      }
      const seen = new Set<string>();
      command.members.forEach((member, index) => {
        if (!isValidPublicKey(member.publicKey)) {
          throw new ValidationError(`members[${index}].public_key`, "is not a valid 32-byte Ed25519 public key");
        }
        const id = memberIdOf(member.publicKey);
        if (seen.has(id)) throw new ValidationError(`members[${index}].public_key`, `duplicates member ${id}`);
        seen.add(id);
        if (member.displayName.length > 128) {
          throw new ValidationError(`members[${index}].display_name`, "must be at most 128 characters");
        }
      });
      const agreement = checkAgreement(command.agreement, state);
      validateOperatorSignatures(command.signatures);
      const forced = state.bootstrapped;
      let operators: OperatorKeys | undefined;
      if (forced) {
        if (command.operatorKeys.length > 0 || command.operatorThreshold !== 0) {
          throw new ValidationError(
            "operator_keys",
            "must be empty in a forced re-bootstrap: the operator keys change only by RotateOperatorKeys",
          );
        }
      } else {
        validateOperatorKeys(command.operatorKeys, command.operatorThreshold);
        operators = { version: 1, keys: command.operatorKeys, threshold: command.operatorThreshold };
      }
      const payload = operatorBootstrapPayload(command.networkId, {
        requestId: command.requestId,
        bootstrapsBefore: state.bootstraps,
        force: command.force,
        members: command.members,
        agreement: command.agreement,
        operatorKeys: command.operatorKeys,
        operatorThreshold: command.operatorThreshold,
      });
      // Genesis proves the operator holds the keys it names; a forced re-bootstrap needs the current quorum.
      requireOperatorQuorum(forced ? state.operators : operators, "bootstrap", payload, command.signatures);
      return [
        {
          type: "NetworkBootstrapped",
          members: command.members,
          agreement,
          forced: command.force,
          networkId: command.networkId,
          ...(operators ? { operators } : {}),
          act: {
            requestId: command.requestId,
            signatures: command.signatures,
            keysVersion: forced ? (state.operators?.version ?? 0) : 0,
          },
        },
      ];
    }
    case "PublishAgreement": {
      if (!state.bootstrapped) throw new IllegalStateError("the network has not been bootstrapped yet");
      const agreement = checkAgreement(command, state);
      validateOperatorSignatures(command.signatures);
      const payload = operatorAgreementPayload(
        command.networkId,
        command.requestId,
        agreement.version,
        command.hash,
        command.uri,
      );
      requireOperatorQuorum(state.operators, "agreement", payload, command.signatures);
      const act = {
        requestId: command.requestId,
        signatures: command.signatures,
        keysVersion: state.operators!.version,
      };
      return [{ type: "AgreementPublished", agreement, act }];
    }
    case "RotateOperatorKeys": {
      if (!state.bootstrapped) throw new IllegalStateError("the network has not been bootstrapped yet");
      validateOperatorKeys(command.keys, command.threshold, { keys: "keys", threshold: "threshold" });
      validateOperatorSignatures(command.signatures);
      const current = state.operators;
      const payload = operatorRotatePayload(
        command.networkId,
        command.requestId,
        current?.version ?? 0,
        command.keys,
        command.threshold,
      );
      requireOperatorQuorum(current, "rotate", payload, command.signatures);
      return [
        {
          type: "OperatorKeysRotated",
          operators: { version: current!.version + 1, keys: command.keys, threshold: command.threshold },
          requestId: command.requestId,
          signatures: command.signatures,
        },
      ];
    }
    default: {
      const unreachable: never = command;
      throw new IllegalStateError(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

function checkAgreement(agreement: { hash: Uint8Array; uri: string }, state: NetworkState): Agreement {
  if (agreement.hash.length !== HASH_BYTES) {
    throw new ValidationError("agreement.hash", `must be the ${HASH_BYTES}-byte SHA-256 of the agreement document`);
  }
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(agreement.uri) || agreement.uri.length > 2048) {
    throw new ValidationError("agreement.uri", "must be an absolute URI of at most 2048 characters");
  }
  const current = currentAgreement(state);
  if (current && sameBytes(current.hash, agreement.hash)) return current;
  return { version: state.agreements.length + 1, hash: agreement.hash, uri: agreement.uri };
}

export function evolveNetwork(state: NetworkState, event: NetworkEvent): NetworkState {
  switch (event.type) {
    case "NetworkBootstrapped":
    case "AgreementPublished": {
      const known = state.agreements.some((a) => a.version === event.agreement.version);
      const bootstrapped = event.type === "NetworkBootstrapped";
      return {
        bootstrapped: state.bootstrapped || bootstrapped,
        networkId: bootstrapped && event.networkId !== "" ? event.networkId : state.networkId,
        agreements: known ? state.agreements : [...state.agreements, event.agreement],
        operators: (bootstrapped && !state.bootstrapped ? event.operators : undefined) ?? state.operators,
        bootstraps: state.bootstraps + (bootstrapped ? 1 : 0),
      };
    }
    case "OperatorKeysRotated":
      return { ...state, operators: event.operators };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
