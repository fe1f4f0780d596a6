import { Option, type Command } from "commander";
import { eventToJson, readEvents, SERVICE_NAMES, type EventRecord, type ServiceName } from "@pot/client";
import { positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";

/** Interleaves several async iterators as their items arrive; ends when all have ended. */
export async function* merge<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) =>
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
      } else {
        pull(index);
        yield result.value;
      }
    }
  } finally {
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  }
}

export function registerEvents(program: Command, wrap: Wrap): void {
  const events = program.command("events").description("the event streams, as a downstream system sees them");

  events
    .command("tail")
    .description(
      "print events as JSON lines (decoded envelopes; bigint as strings, bytes as hex): each stream in turn, or as they arrive with --follow",
    )
    .addOption(
      new Option("--service <service>", "one stream (default: all three)")
        .choices([...SERVICE_NAMES, "all"])
        .default("all"),
    )
    .addOption(new Option("--from <seq>", "first stream sequence (per stream)").argParser(positiveInteger).default(1))
    .option("--follow", "keep printing new events until interrupted (Ctrl-C)")
    .addOption(new Option("--limit <n>", "stop after this many events").argParser(positiveInteger))
    .option("--subject <filter>", "one subject filter, e.g. pot.adjudicator.game.> (with --service)")
    .action(
      wrap(async (ctx, _args, options) => {
        const services: readonly ServiceName[] =
          options.service === "all" ? SERVICE_NAMES : [options.service as ServiceName];
        const nc = await ctx.nats();
        const common = {
          namespace: ctx.settings.namespace,
          fromSeq: options.from as number,
          follow: options.follow === true,
          signal: ctx.signal,
          ...(typeof options.subject === "string" ? { subject: options.subject } : {}),
        };
        const streams = services.map((service) => readEvents(nc, { ...common, service }));
        const source: AsyncIterable<EventRecord> = options.follow
          ? merge(streams)
          : (async function* () {
              for (const stream of streams) yield* stream;
            })();
        const limit = typeof options.limit === "number" ? options.limit : Infinity;
        let printed = 0;
        if (printed >= limit) return;
        for await (const record of source) {
          ctx.out.jsonLine(eventToJson(record));
          if (++printed >= limit) break;
        }
      }),
    );
}
