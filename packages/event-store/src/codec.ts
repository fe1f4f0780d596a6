import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { Envelope } from "@pot/contracts";

export type EventBody = NonNullable<Envelope["event"]>;
export type EventCase = EventBody["$case"];
export type EventOf<C extends EventCase> = Extract<EventBody, { $case: C }>["value"];

export const EVENT_TYPE_HEADER = "Pot-Event-Type";

/** "gameOpened" -> "pot.v1.GameOpened": the fully qualified protobuf name of the event message. */
export function eventTypeName(eventCase: EventCase): string {
  return `pot.v1.${eventCase.charAt(0).toUpperCase()}${eventCase.slice(1)}`;
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return Envelope.encode(envelope).finish();
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  const envelope = Envelope.decode(data);
  if (!envelope.event) throw new Error(`event ${envelope.eventId || "?"} carries no event body`);
  return envelope;
}

export function envelopeHeaders(envelope: Envelope, extra?: Record<string, string>): MsgHdrs {
  const h = natsHeaders();
  h.set(EVENT_TYPE_HEADER, envelope.type);
  for (const [key, value] of Object.entries(extra ?? {})) h.set(key, value);
  return h;
}
