import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import {
  admissionAction,
  consentFromJson,
  consentOf,
  genericAction,
  readKeyFile,
  type AgreementRef,
  type ConsentContext,
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

/** A consent file; refused here (exit 2) when it is for another network than the one signed for. */
export async function readConsentFile(ctx: Context, path: string): Promise<Consent> {
  let parsed: ReturnType<typeof consentFromJson>;
  try {
    parsed = consentFromJson(await readJsonFile(path, "consent file"));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw usageError(`consent file ${path}: ${(error as Error).message}`);
  }
  const network = await ctx.client.networkId();
  if (parsed.networkId !== network) {
    throw usageError(`consent file ${path} is for network '${parsed.networkId}', not for network '${network}'`);
  }
  return parsed.consent;
}

/** The agreement a consent is made for: from the options, else the network's current one (GetAgreement). */
export async function agreementFor(ctx: Context, options: Record<string, unknown>): Promise<AgreementRef> {
  const version = options.agreementVersion;
  const hash = options.agreementHash;
  if (typeof version === "number" && typeof hash === "string") return { version, hash: hexToBytes(hash) };
  if (version !== undefined || hash !== undefined) {
    throw usageError("--agreement-version and --agreement-hash go together (or leave both out to ask the network)");
  }
  const answer = await ctx.client.getAgreement();
  if (!answer.bootstrapped || !answer.agreement) {
    throw new CliError(
      EXIT.failedPrecondition,
      `network '${answer.networkId}' has no legal agreement yet: bootstrap it first (pot bootstrap)`,
    );
  }
  return answer.agreement;
}

/** Default lifetime of a consent signed by the CLI (`--expires-in`). */
export const DEFAULT_CONSENT_TTL_MS = 3 * 86_400_000;

/** The candidate's consent, signed now with its key, for `context` until now + --expires-in. */
export async function signConsent(
  ctx: Context,
  candidateKeyFile: string,
  context: { proposalId: string } | { controllerId: string },
  options: Record<string, unknown>,
): Promise<Consent> {
  const candidate = await readKeyFile(candidateKeyFile);
  const ttl = typeof options.expiresIn === "number" ? options.expiresIn : DEFAULT_CONSENT_TTL_MS;
  const bound: ConsentContext = { ...context, expiresAtMs: Date.now() + ttl };
  const [network, agreement] = await Promise.all([ctx.client.networkId(), agreementFor(ctx, options)]);
  return consentOf(network, candidate.member, agreement, bound);
}

/**
 * A signed consent: read from --consent, or made now with the candidate's key file (--candidate-key)
 * for `context` (the proposal about to be made, or the member redeeming a credit).
 */
export async function consentFrom(
  ctx: Context,
  options: Record<string, unknown>,
  context: { proposalId: string } | { controllerId: string },
): Promise<Consent | undefined> {
  if (typeof options.consent === "string") return readConsentFile(ctx, options.consent);
  if (typeof options.candidateKey === "string") return signConsent(ctx, options.candidateKey, context, options);
  return undefined;
}

/**
 * The action of a proposal from the options: an admission (consent) or a generic action (--kind).
 * A consent signed now (--candidate-key) is for `proposalId`.
 */
export async function actionFrom(ctx: Context, options: Record<string, unknown>, proposalId: string): Promise<Action> {
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
  const consent = (await consentFrom(ctx, options, { proposalId }))!;
  if (typeof options.proposalId === "string" && consent.proposalId !== options.proposalId) {
    throw usageError(
      consent.proposalId === ""
        ? "the consent is for a credit redeemed by a controller, not for a proposal: use it with pot redeem"
        : `the consent is for proposal ${consent.proposalId}, not ${options.proposalId}: leave out --proposal-id to use the consent's`,
    );
  }
  return admissionAction(consent);
}

/** The agreement's hash from exactly one of `--agreement-hash <sha256>` and `--agreement-file <path>`. */
export async function agreementHashOf(options: {
  readonly agreementHash?: unknown;
  readonly agreementFile?: unknown;
}): Promise<Uint8Array> {
  if ((options.agreementHash === undefined) === (options.agreementFile === undefined)) {
    throw usageError("give the agreement as exactly one of --agreement-hash <sha256> or --agreement-file <path>");
  }
  return typeof options.agreementHash === "string"
    ? hexToBytes(options.agreementHash)
    : sha256OfFile(String(options.agreementFile));
}

async function sha256OfFile(path: string): Promise<Uint8Array> {
  try {
    return createHash("sha256")
      .update(await readFile(path))
      .digest();
  } catch (error) {
    throw usageError(`cannot read agreement file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
