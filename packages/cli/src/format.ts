import { hexBytes } from "@pot/client";
import {
  AdmissionKind,
  admissionKindToJSON,
  GamePhase,
  gamePhaseToJSON,
  MemberStatus,
  memberStatusToJSON,
  Move,
  moveToJSON,
  Outcome,
  outcomeToJSON,
  proposalStatusToJSON,
  type Action,
  type Game,
  type GameRules,
  type Member,
  type PlayerState,
  type Policy,
  type Proposal,
  type Stake,
} from "@pot/contracts";
import { bytesToHex } from "@pot/mechanism";

/** "OUTCOME_A_DEFECTED" with prefix "OUTCOME_" -> "a defected". */
export function enumLabel(name: string, prefix: string): string {
  return (name.startsWith(prefix) ? name.slice(prefix.length) : name).toLowerCase().replace(/_/g, " ");
}

/** "both cooperated", "A defected", "no show", ... (sponsor A proposed, B accepted). */
export const outcomeLabel = (outcome: Outcome) =>
  enumLabel(outcomeToJSON(outcome), "OUTCOME_").replace(/^([ab]) /, (_, side: string) => `${side.toUpperCase()} `);
export const moveLabel = (move: Move) => enumLabel(moveToJSON(move), "MOVE_");
export const phaseLabel = (phase: GamePhase) => enumLabel(gamePhaseToJSON(phase), "GAME_PHASE_");
export const admissionLabel = (kind: AdmissionKind) => enumLabel(admissionKindToJSON(kind), "ADMISSION_KIND_");
export const memberStatusLabel = (s: MemberStatus) => enumLabel(memberStatusToJSON(s), "MEMBER_STATUS_");

/** 90_061_000 -> "1 d 1 h" (the two largest units); 1_500 -> "1.5 s"; 0 -> "0 s". */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  const rest = Math.abs(ms);
  if (rest < 60_000) {
    const seconds = rest / 1000;
    return `${sign}${Number.isInteger(seconds) ? seconds : seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  }
  const units: readonly (readonly [string, number])[] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["min", 60_000],
    ["s", 1_000],
  ];
  const first = units.findIndex(([, size]) => rest >= size);
  const [unit, size] = units[first]!;
  const count = Math.floor(rest / size);
  const parts = [`${count} ${unit}`];
  const next = units[first + 1];
  if (next) {
    const smaller = Math.floor((rest - count * size) / next[1]);
    if (smaller > 0) parts.push(`${smaller} ${next[0]}`);
  }
  return `${sign}${parts.join(" ")}`;
}

/** An instant in ms since the epoch, with how far it is from `now`; 0 is "never". */
export function formatInstant(ms: bigint | number, now: number): string {
  const value = Number(ms);
  if (value === 0) return "never";
  const iso = new Date(value).toISOString();
  const delta = value - now;
  if (Math.abs(delta) < 1_000) return `${iso} (now)`;
  return delta > 0 ? `${iso} (in ${formatDuration(delta)})` : `${iso} (${formatDuration(-delta)} ago)`;
}

/** Aligned "label  value" lines. */
export function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${label.padEnd(width)}${value}`);
}

export function describeAction(action: Action | undefined): string {
  const body = action?.action;
  if (!body) return "none";
  switch (body.$case) {
    case "admission": {
      const consent = body.value.consent;
      return consent
        ? `admit ${bytesToHex(consent.candidatePublicKey)} (consented to agreement v${consent.agreementVersion})`
        : "admit (no consent)";
    }
    case "generic":
      return `${body.value.kind} (${body.value.payload.length} bytes of payload)`;
    default: {
      const unreachable: never = body;
      return String(unreachable);
    }
  }
}

export function memberLines(member: Member, now: number): string[] {
  return table(memberRows(member, now));
}

export function memberRows(member: Member, now: number): (readonly [string, string])[] {
  const how =
    member.kind === AdmissionKind.ADMISSION_KIND_SPONSORED
      ? `${member.tainted ? "TAINTED: sponsored with a controlled or tainted sponsor, by" : "sponsored by"} ${member.sponsorIds.join(" and ")} (game ${member.gameId})`
      : member.kind === AdmissionKind.ADMISSION_KIND_CONTROLLED
        ? `controlled by ${member.controllerId} (admitted with a credit)`
        : admissionLabel(member.kind);
  return [
    ["member", member.memberId],
    ...(member.displayName ? ([["name", member.displayName]] as const) : []),
    ["status", memberStatusLabel(member.status)],
    ["admitted", `${formatInstant(member.admittedAtMs, now)}, ${how}`],
    ["agreement", `v${member.agreementVersion}`],
    ["credits", String(member.credits)],
  ];
}

export function stakeLines(stake: Stake, now: number): string[] {
  return table([["member", stake.memberId], ...stakeRows(stake, now)]);
}

export function stakeRows(stake: Stake, now: number): (readonly [string, string])[] {
  const state = stake.excluded ? "excluded" : stake.available ? "available: can open a game now" : "busy";
  return [
    ["stake", state],
    ["locked until", `${formatInstant(stake.lockedUntilMs, now)}${stake.gameId ? ` by game ${stake.gameId}` : ""}`],
    ["suspended until", formatInstant(stake.suspendedUntilMs, now)],
  ];
}

function playerLine(player: PlayerState | undefined): string {
  if (!player) return "?";
  const steps = [
    player.committed ? "committed" : "not committed",
    player.revealed ? `revealed ${moveLabel(player.move)}` : "not revealed",
  ];
  return `${player.memberId}: ${steps.join(", ")}`;
}

/** What a game is over, from the read model's summary of its action. */
function gameAction(game: Game): string {
  if (game.actionKind === "admission") return game.candidateId ? `admit ${game.candidateId}` : "admission";
  return game.actionKind || "unknown";
}

export function gameLines(game: Game, now: number): string[] {
  const resolved = game.phase === GamePhase.GAME_PHASE_RESOLVED;
  return table([
    ["game", game.gameId],
    ["phase", resolved ? `resolved: ${outcomeLabel(game.outcome)}` : phaseLabel(game.phase)],
    ["sponsor A", playerLine(game.sponsorA)],
    ["sponsor B", playerLine(game.sponsorB)],
    ["action", game.action ? describeAction(game.action) : gameAction(game)],
    ["policy", `v${game.policyVersion}`],
    ["opened", formatInstant(game.openedAtMs, now)],
    ["commit by", formatInstant(game.commitDeadlineMs, now)],
    ["reveal by", formatInstant(game.revealDeadlineMs, now)],
    ...(resolved ? ([["resolved", formatInstant(game.resolvedAtMs, now)]] as const) : []),
  ]);
}

export function proposalLines(proposal: Proposal, now: number): string[] {
  return table([
    ["proposal", proposal.proposalId],
    ["status", enumLabel(proposalStatusToJSON(proposal.status), "PROPOSAL_STATUS_")],
    ["proposer", proposal.proposerId],
    ["partner", proposal.partnerId],
    ["action", describeAction(proposal.action)],
    ["made", formatInstant(proposal.madeAtMs, now)],
    ["expires", formatInstant(proposal.expiresAtMs, now)],
  ]);
}

function rulesText(rules: GameRules | undefined): string {
  if (!rules) return "none";
  const d = (v: bigint) => formatDuration(Number(v));
  const penalties = [
    rules.suspendBetrayed ? "betrayed cooperator suspended" : "betrayed cooperator not suspended",
    rules.suspendBothDefectors ? "both defectors suspended" : "both defectors not suspended",
  ];
  return [
    `stake ${d(rules.stakePeriodMs)}, penalty ${d(rules.penaltyPeriodMs)}, no-show penalty ${d(rules.noShowPenaltyMs)}`,
    `commit window ${d(rules.commitWindowMs)}, reveal window ${d(rules.revealWindowMs)}`,
    `defector gets ${rules.defectorCredits} credit(s); ${penalties.join("; ")}`,
  ].join("; ");
}

export function policyLines(policy: Policy, admissionStakePeriodMs?: bigint): string[] {
  const d = (v: bigint) => formatDuration(Number(v));
  const target = policy.rateTarget;
  const retargeting =
    target && target.admissionsPerInterval > 0
      ? ([
          [
            "rate target",
            `${target.admissionsPerInterval} admissions per ${d(target.intervalMs)}, step at most ${target.maxStepPercent} %, stake ${d(target.minStakePeriodMs)} to ${d(target.maxStakePeriodMs)}`,
          ],
          ...(admissionStakePeriodMs !== undefined
            ? [["admission stake now", `${d(admissionStakePeriodMs)} (retargeted)`] as const]
            : []),
        ] as const)
      : [];
  return table([
    ["policy", `v${policy.version}`],
    ["admission", rulesText(policy.admission)],
    ...policy.actionKinds.map((entry) => [`action ${entry.kind}`, rulesText(entry.rules)] as const),
    ["pair cool-down", d(policy.pairCooldownMs)],
    ["proposal ttl", d(policy.proposalTtlMs)],
    ["credit ttl", d(policy.creditTtlMs)],
    ["exclusion", `each sponsor suspended ${d(policy.exclusionSponsorPenaltyMs)}`],
    ...retargeting,
  ]);
}

/** A generated message as JSON: its toJSON mapping, with bytes as hex. */
export function messageJson<T>(fns: { toJSON(message: T): unknown }, message: T): unknown {
  return hexBytes(message, fns.toJSON(message));
}
