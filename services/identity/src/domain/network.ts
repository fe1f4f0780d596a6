import {
  HASH_BYTES,
  IllegalStateError,
  isNetworkId,
  isValidPublicKey,
  memberIdOf,
  ValidationError,
  sameBytes,
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

/** The network as a whole: whether it has been bootstrapped, and its agreement versions. */
export interface NetworkState {
  readonly bootstrapped: boolean;
  /** The network id recorded at genesis; empty for a network bootstrapped before ids existed. */
  readonly networkId: string;
  readonly agreements: readonly Agreement[];
}

export type NetworkEvent =
  | {
      readonly type: "NetworkBootstrapped";
      readonly members: readonly GenesisMember[];
      readonly agreement: Agreement;
      readonly forced: boolean;
      readonly networkId: string;
    }
  | { readonly type: "AgreementPublished"; readonly agreement: Agreement };

export type NetworkCommand =
  | {
      readonly type: "Bootstrap";
      readonly members: readonly GenesisMember[];
      readonly agreement: { readonly hash: Uint8Array; readonly uri: string };
      readonly force: boolean;
      /** The network id the operator names. */
      readonly networkId: string;
      /** The network id this deployment is configured with (POT_NETWORK_ID): the two must match. */
      readonly configuredNetworkId: string;
    }
  | { readonly type: "PublishAgreement"; readonly hash: Uint8Array; readonly uri: string };

export const NETWORK_ID = "network";
export const MAX_GENESIS_MEMBERS = 1_000;

export const initialNetworkState: NetworkState = { bootstrapped: false, networkId: "", agreements: [] };

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
      return [
        {
          type: "NetworkBootstrapped",
          members: command.members,
          agreement,
          forced: command.force,
          networkId: command.networkId,
        },
      ];
    }
    case "PublishAgreement": {
      if (!state.bootstrapped) throw new IllegalStateError("the network has not been bootstrapped yet");
      return [{ type: "AgreementPublished", agreement: checkAgreement(command, state) }];
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
      return {
        bootstrapped: state.bootstrapped || event.type === "NetworkBootstrapped",
        networkId: event.type === "NetworkBootstrapped" && event.networkId !== "" ? event.networkId : state.networkId,
        agreements: known ? state.agreements : [...state.agreements, event.agreement],
      };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}
