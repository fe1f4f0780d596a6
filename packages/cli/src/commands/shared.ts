import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import {
  admissionAction,
  consentFromJson,
  consentOf,
  currentAgreement,
  genericAction,
  readKeyFile,
  type AgreementRef,
} from "@pot/client";
import type { Action, Consent } from "@pot/contracts";
import { hexToBytes } from "@pot/mechanism";
import type { Context } from "../context.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";

/**
 * Calls `attempt` again while `retry(error)` holds, until it succeeds or `timeoutMs` passes (then the
 * last error is thrown). For what propagates between services asynchronously: a game the matchmaker
 * opened reaches the adjudicator a few milliseconds later.
 */
export async function retrying<T>(
  attempt: () => Promise<T>,
  retry: (error: unknown) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await attempt();
    } catch (error) {
      if (!retry(error) || Date.now() + delay > deadline || signal?.aborted) throw error;
    }
    await sleep(delay);
  }
}

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw usageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw usageError(`${what} ${path} is not JSON`);
  }
}

export async function readConsentFile(path: string): Promise<Consent> {
  try {
    return consentFromJson(await readJsonFile(path, "consent file"));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw usageError(`consent file ${path}: ${(error as Error).message}`);
  }
}

/** The agreement a consent is made for: from the options, else the network's current one (over NATS). */
export async function agreementFor(ctx: Context, options: Record<string, unknown>): Promise<AgreementRef> {
  const version = options.agreementVersion;
  const hash = options.agreementHash;
  if (typeof version === "number" && typeof hash === "string") return { version, hash: hexToBytes(hash) };
  if (version !== undefined || hash !== undefined) {
    throw usageError("--agreement-version and --agreement-hash go together (or leave both out to ask the network)");
  }
  const agreement = await currentAgreement(await ctx.nats(), ctx.settings.namespace);
  if (!agreement) {
    throw new CliError(
      EXIT.failedPrecondition,
      `network '${ctx.settings.namespace}' has no legal agreement yet: bootstrap it first (pot bootstrap)`,
    );
  }
  return agreement;
}

/** A signed consent: read from --consent, or made now with the candidate's key file (--candidate-key). */
export async function consentFrom(ctx: Context, options: Record<string, unknown>): Promise<Consent | undefined> {
  if (typeof options.consent === "string") return readConsentFile(options.consent);
  if (typeof options.candidateKey === "string") {
    const candidate = await readKeyFile(options.candidateKey);
    return consentOf(candidate.member, await agreementFor(ctx, options));
  }
  return undefined;
}

/** The action of a proposal from the options: an admission (consent) or a generic action (--kind). */
export async function actionFrom(ctx: Context, options: Record<string, unknown>): Promise<Action> {
  const chosen = ["candidateKey", "consent", "kind"].filter((name) => options[name] !== undefined);
  if (chosen.length !== 1) {
    throw usageError(
      "say what the game is over: exactly one of --candidate-key <file>, --consent <file> or --kind <kind>",
    );
  }
  if (typeof options.kind === "string") {
    if (options.payload !== undefined && options.payloadHex !== undefined) {
      throw usageError("--payload and --payload-hex are alternatives: give one");
    }
    const payload =
      typeof options.payloadHex === "string"
        ? hexToBytes(options.payloadHex)
        : new TextEncoder().encode(typeof options.payload === "string" ? options.payload : "");
    return genericAction(options.kind, payload);
  }
  return admissionAction((await consentFrom(ctx, options))!);
}

export async function sha256OfFile(path: string): Promise<Uint8Array> {
  try {
    return createHash("sha256")
      .update(await readFile(path))
      .digest();
  } catch (error) {
    throw usageError(`cannot read agreement file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
