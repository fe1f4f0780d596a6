import { Argument, Option, type Command } from "commander";
import { eventToJson, SERVICE_NAMES, StreamNotFoundError, toJsonLine, type ServiceName } from "@pot/client";
import {
  DeadLetterRetryError,
  deadLetterNames,
  decodeEnvelope,
  isJetStreamNotFound,
  isPermissionViolation,
  readDeadLetter,
  readDeadLetters,
  retryDeadLetter,
  streamNames,
  type DeadLetter,
} from "@pot/event-store";
import type { Context } from "../context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { positiveInteger } from "../parsers.js";
import type { Wrap } from "../program.js";

/** A dead letter as `list --json` prints it. */
function letterSummary(letter: DeadLetter) {
  return {
    service: letter.service,
    seq: letter.seq,
    stream: letter.stream,
    originalSeq: letter.originalSeq,
    subject: letter.originalSubject,
    kind: letter.kind,
    reason: letter.reason,
    consumer: letter.consumer,
    attempts: letter.attempts,
    time: letter.time,
    retried: letter.retried ?? null,
  };
}

/** A dead letter as `show` prints it: its headers as a map, its body decoded when it decodes (else in hex). */
function letterDetail(letter: DeadLetter) {
  const headers: Record<string, string> = {};
  for (const [key, values] of letter.headers ?? []) headers[key] = values.join(", ");
  let event: unknown = null;
  let undecodable: string | null = null;
  try {
    const envelope = decodeEnvelope(letter.data);
    event = eventToJson({
      stream: letter.stream,
      seq: letter.originalSeq,
      subject: letter.originalSubject,
      envelope,
      headers,
    });
  } catch (error) {
    undecodable = (error as Error).message;
  }
  return {
    ...letterSummary(letter),
    headers,
    bytes: letter.data.length,
    hex: Buffer.from(letter.data).toString("hex"),
    event,
    undecodable,
  };
}

/** Reads a dead-letter stream, turning a missing one into a sentence (the service never ran here). */
async function guarded<T>(stream: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isJetStreamNotFound(error) || /stream not found/i.test((error as Error).message)) {
      throw new StreamNotFoundError(stream, { cause: error });
    }
    throw error;
  }
}

function one(letter: DeadLetter): string {
  const retried = letter.retried ? `  retried ${letter.retried.time} as seq ${letter.retried.as}` : "";
  return (
    `${letter.service.padEnd(11)} ${String(letter.seq).padStart(6)}  ${letter.stream}:${letter.originalSeq}  ` +
    `${letter.originalSubject}  ${letter.kind}  attempts ${letter.attempts}  ${letter.time}${retried}\n` +
    `${" ".repeat(20)}${letter.consumer}: ${letter.reason}`
  );
}

function serviceOption(required: boolean): Option {
  const option = new Option("--service <service>", "whose dead letters (the service whose consumer gave up)").choices(
    required ? [...SERVICE_NAMES] : [...SERVICE_NAMES, "all"],
  );
  return required ? option.makeOptionMandatory() : option.default("all");
}

async function show(ctx: Context, service: ServiceName, seq: number): Promise<DeadLetter> {
  const names = deadLetterNames(ctx.settings.namespace, service);
  const letter = await guarded(names.stream, async () => readDeadLetter(await ctx.nats(), names, seq));
  if (letter === undefined) {
    throw new CliError(
      EXIT.notFound,
      `${names.stream} has no dead letter at sequence ${seq} (see pot dead-letters list)`,
    );
  }
  return letter;
}

export function registerDeadLetters(program: Command, wrap: Wrap): void {
  const command = program
    .command("dead-letters")
    .description("messages the services' consumers gave up on (docs/operations.md, Dead letters): list, show, retry");

  command
    .command("list")
    .description("each dead letter: its sequence, the original stream, sequence and subject, reason, attempts, time")
    .addOption(serviceOption(false))
    .addOption(new Option("--from <seq>", "first dead-letter sequence").argParser(positiveInteger).default(1))
    .addOption(new Option("--limit <n>", "at most this many per service").argParser(positiveInteger))
    .action(
      wrap(async (ctx, _args, options) => {
        const services: readonly ServiceName[] =
          options.service === "all" ? SERVICE_NAMES : [options.service as ServiceName];
        const nc = await ctx.nats();
        const letters: DeadLetter[] = [];
        const missing: StreamNotFoundError[] = [];
        for (const service of services) {
          const names = deadLetterNames(ctx.settings.namespace, service);
          const read = () =>
            readDeadLetters(nc, names, {
              fromSeq: options.from as number,
              ...(typeof options.limit === "number" ? { limit: options.limit } : {}),
            });
          try {
            letters.push(...(await guarded(names.stream, read)));
          } catch (error) {
            // A service that never ran here has no dead letters; none of them: a wrong namespace.
            if (!(error instanceof StreamNotFoundError)) throw error;
            missing.push(error);
          }
        }
        if (missing.length === services.length) throw missing[0]!;
        const waiting = letters.filter((letter) => !letter.retried).length;
        ctx.out.result(
          [...letters.map(one), `${letters.length} dead letter(s), ${waiting} not retried`],
          letters.map(letterSummary),
        );
      }),
    );

  command
    .command("show")
    .description("one dead letter: every header, and the event as JSON when it decodes (else its bytes in hex)")
    .addArgument(new Argument("<seq>", "its sequence in the dead-letter stream (from list)").argParser(positiveInteger))
    .addOption(serviceOption(true))
    .action(
      wrap(async (ctx, [seq], options) => {
        const letter = await show(ctx, options.service as ServiceName, seq as number);
        const json = letterDetail(letter);
        ctx.out.result(
          [
            one(letter),
            "headers:",
            ...Object.entries(json.headers).map(([key, value]) => `  ${key}: ${value}`),
            json.event !== null
              ? `event: ${toJsonLine(json.event)}`
              : `undecodable (${json.undecodable}): ${json.bytes} bytes ${json.hex.slice(0, 512)}${json.hex.length > 512 ? "..." : ""}`,
          ],
          json,
        );
      }),
    );

  command
    .command("retry")
    .description(
      "re-publish a dead letter's original bytes on its original subject (marked Pot-Dead-Letter-Retry) and record the retry, once; needs the NATS admin",
    )
    .addArgument(new Argument("<seq>", "its sequence in the dead-letter stream (from list)").argParser(positiveInteger))
    .addOption(serviceOption(true))
    .action(
      wrap(async (ctx, [seq], options) => {
        const service = options.service as ServiceName;
        const names = deadLetterNames(ctx.settings.namespace, service);
        const nc = await ctx.nats();
        try {
          const result = await guarded(names.stream, () =>
            retryDeadLetter(nc, names, seq as number, {
              eventStreams: SERVICE_NAMES.map((s) => streamNames(ctx.settings.namespace, s)),
            }),
          );
          ctx.out.result(
            `dead letter ${seq} of ${names.stream} re-published on ${result.subject} as ${result.stream} seq ${result.seq}; retry recorded (seq ${result.recordSeq})`,
            {
              service,
              seq,
              stream: result.stream,
              subject: result.subject,
              republishedSeq: result.seq,
              recordSeq: result.recordSeq,
            },
          );
        } catch (error) {
          if (error instanceof DeadLetterRetryError) {
            const code =
              error.reason === "not-found"
                ? EXIT.notFound
                : error.reason === "already-retried"
                  ? EXIT.alreadyExists
                  : EXIT.failedPrecondition;
            throw new CliError(code, error.message, { cause: error });
          }
          if (isPermissionViolation(error)) {
            throw new CliError(
              EXIT.permissionDenied,
              `this NATS user may not re-publish on the original subject: retry as the NATS admin (--nats-user <ns>-admin)`,
              { cause: error },
            );
          }
          throw error;
        }
      }),
    );
}
