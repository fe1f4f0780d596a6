import { sql, type Transaction } from "kysely";
import type { StoredEvent } from "@pot/event-store";
import type { Projection } from "@pot/projections";
import { memberEventFromWire } from "../../adapters/nats/codec.js";
import type { IdentityDatabase } from "./members.table.js";

/** One row per member. Each write is guarded by `last_seq < seq`, so a replay is a no-op. */
export const membersProjection: Projection<IdentityDatabase> = {
  name: "members",
  async apply(trx: Transaction<IdentityDatabase>, events: readonly StoredEvent[]) {
    for (const stored of events) {
      const event = memberEventFromWire(stored.envelope);
      if (!event) continue;
      const seq = stored.seq;
      switch (event.type) {
        case "MemberAdmitted":
          await trx
            .insertInto("members")
            .values({
              member_id: event.memberId,
              public_key: event.publicKey,
              status: "active",
              kind: event.kind,
              sponsor_ids: [...event.sponsorIds],
              controller_id: event.controllerId || null,
              game_id: event.gameId || null,
              agreement_version: event.consent?.agreementVersion ?? null,
              display_name: event.displayName,
              admitted_at: event.admittedAt,
              credits: 0,
              last_seq: seq,
            })
            .onConflict((oc) => oc.column("member_id").doNothing())
            .execute();
          break;
        case "CreditsGranted":
          await trx
            .updateTable("members")
            .set({ credits: sql`credits + ${event.count}`, last_seq: seq })
            .where("member_id", "=", event.memberId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        case "CreditRedeemed":
          await trx
            .updateTable("members")
            .set({ credits: sql`credits - 1`, last_seq: seq })
            .where("member_id", "=", event.memberId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        case "MemberExcluded":
          await trx
            .updateTable("members")
            .set({ status: "excluded", last_seq: seq })
            .where("member_id", "=", event.memberId)
            .where("last_seq", "<", String(seq))
            .execute();
          break;
        default: {
          const unreachable: never = event;
          return unreachable;
        }
      }
    }
  },
};
