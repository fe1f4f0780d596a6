import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeEnvelope, type StoredEvent } from "@pot/event-store";

/** Every message on a stream, in order, decoded (what a downstream system would read). */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredEvent[]> {
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  if (last === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1_000 });
  const out: StoredEvent[] = [];
  for await (const message of messages) {
    out.push({
      seq: message.seq,
      subject: message.subject,
      envelope: decodeEnvelope(message.data),
      headers: message.headers,
    });
    if (message.seq >= last) break;
  }
  await messages.close();
  return out;
}

export function typesOf(events: readonly StoredEvent[]): string[] {
  return events.map((event) => event.envelope.type.replace("pot.v1.", ""));
}
