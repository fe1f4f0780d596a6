import type { AggregateRepository, StoredEvent } from "@pot/event-store";
import { memberIdOf } from "@pot/mechanism";
import { toNumber } from "@pot/wire";
import {
  decideMember,
  decideNetwork,
  NETWORK_ID,
  type GenesisMember,
  type MemberCommand,
  type MemberEvent,
  type MemberState,
  type NetworkEvent,
  type NetworkState,
} from "../domain/index.js";

export interface IdentityDeps {
  readonly network: AggregateRepository<NetworkState, NetworkEvent>;
  readonly members: AggregateRepository<MemberState, MemberEvent>;
  readonly now: () => number;
}

export interface Traced {
  readonly headers?: Record<string, string>;
}

export class Identity {
  constructor(private readonly deps: IdentityDeps) {}

  /** Records the genesis; the members themselves are admitted by the reaction to that event. */
  async bootstrap(
    input: { requestId: string; members: readonly GenesisMember[]; agreement: { hash: Uint8Array; uri: string }; force: boolean },
    traced: Traced = {},
  ) {
    const result = await this.deps.network.execute(
      NETWORK_ID,
      { causationId: `bootstrap:${input.requestId}`, now: new Date(this.deps.now()), ...traced },
      (state) => decideNetwork({ type: "Bootstrap", members: input.members, agreement: input.agreement, force: input.force }, state),
    );
    return { memberIds: input.members.map((m) => memberIdOf(m.publicKey)), sequence: result.seq };
  }

  /** Reaction to the identity stream's own network events: admit every genesis member. */
  async onNetworkEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case !== "networkBootstrapped") return;
    const admittedAt = stored.envelope.occurredAt?.getTime() ?? this.deps.now();
    for (const member of event.value.members) {
      const memberId = memberIdOf(member.publicKey);
      await this.member(stored, memberId, {
        type: "Admit",
        memberId,
        publicKey: member.publicKey,
        kind: "genesis",
        sponsorIds: [],
        controllerId: "",
        gameId: "",
        consent: undefined,
        displayName: member.displayName,
        admittedAt,
      });
    }
  }

  /** Reaction to the adjudicator: admit the candidate of a won game, grant a defector's credits. */
  async onAdjudicatorEvent(stored: StoredEvent): Promise<void> {
    const event = stored.envelope.event;
    if (event?.$case !== "gameResolved") return;
    const resolved = event.value;
    const consent = resolved.action?.action?.$case === "admission" ? resolved.action.action.value.consent : undefined;
    if (resolved.admitted && consent) {
      const memberId = memberIdOf(consent.candidatePublicKey);
      await this.member(stored, memberId, {
        type: "Admit",
        memberId,
        publicKey: consent.candidatePublicKey,
        kind: "sponsored",
        sponsorIds: [resolved.sponsorA?.memberId ?? "", resolved.sponsorB?.memberId ?? ""],
        controllerId: "",
        gameId: resolved.gameId,
        consent: { ...consent },
        displayName: "",
        admittedAt: toNumber(resolved.resolvedAtMs),
      });
    }
    for (const award of resolved.credits) {
      await this.member(stored, award.memberId, {
        type: "GrantCredits",
        gameId: resolved.gameId,
        count: award.count,
        expiresAtMs: toNumber(award.expiresAtMs),
      });
    }
  }

  private member(stored: StoredEvent, memberId: string, command: MemberCommand) {
    const traceparent = stored.headers?.get("traceparent");
    return this.deps.members.execute(
      memberId,
      {
        causationId: stored.envelope.eventId,
        correlationId: stored.envelope.correlationId,
        now: new Date(this.deps.now()),
        ...(traceparent ? { headers: { traceparent } } : {}),
      },
      (state) => decideMember(command, state),
    );
  }
}
