import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { newMember, readEvents, writeKeyFile } from "@pot/client";
import { repoRoot } from "@pot/devenv";
import { DEFAULT_POLICY } from "@pot/mechanism";
import { policyToWire } from "@pot/wire";
import { eventually } from "./support/clients.js";
import { signedAgreement, signedPolicy, TEST_NETWORK, TEST_OPERATOR } from "./support/players.js";
import { startSystem, type System } from "./support/system.js";

const CLI = join(repoRoot(), "packages", "cli", "dist", "main.js");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The compiled `pot` as a user runs it: a child process against the three services started here,
 * configured through the environment (POT_*_ADDRESS, NATS_URL, POT_NAMESPACE, POT_MOVES_FILE).
 */
describe("the pot CLI end to end", () => {
  let system: System;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const ids: Record<string, string> = {};
  let gameId = "";

  const pot = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...env, ...extra } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (args: string[], extra?: NodeJS.ProcessEnv): Promise<Run> => {
    const run = await pot(args, extra);
    assert.equal(run.code, 0, `pot ${args.join(" ")} exited ${run.code}: ${run.stderr}\n${run.stdout.slice(-4_000)}`);
    return run;
  };
  const json = async <T = Record<string, unknown>>(args: string[]): Promise<T> =>
    JSON.parse((await ok([...args, "--json"])).stdout) as T;
  /** A refusal: the exit code and one sentence on stderr, nothing on stdout. */
  const refused = async (args: string[], code: number, pattern: RegExp) => {
    const run = await pot(args);
    assert.equal(run.code, code, `pot ${args.join(" ")}: expected exit ${code}, got ${run.code}: ${run.stderr}`);
    assert.match(run.stderr, /^pot: [^\n]+\n$/, `one sentence on stderr: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, pattern);
    assert.equal(run.stdout, "");
  };

  before(async () => {
    system = await startSystem();
    dir = await mkdtemp(join(tmpdir(), "pot-cli-e2e-"));
    env = {
      ...process.env,
      POT_IDENTITY_ADDRESS: system.services.get("identity")!.grpcAddress,
      POT_MATCHMAKER_ADDRESS: system.services.get("matchmaker")!.grpcAddress,
      POT_ADJUDICATOR_ADDRESS: system.services.get("adjudicator")!.grpcAddress,
      NATS_URL: process.env.NATS_URL ?? `nats://${system.nc.getServer()}`,
      POT_NAMESPACE: system.namespace,
      POT_NETWORK_ID: TEST_NETWORK,
      POT_MOVES_FILE: join(dir, "moves.json"),
      POT_KEY_FILE: join(dir, "nobody.json"),
      // The test run's CA and client certificates, laid out like the .pot/tls that npm start makes.
      POT_TLS_DIR: system.pki.dir,
      // The operator key the network names at genesis (pot bootstrap) and signs operator acts with.
      POT_OPERATOR_KEYS: join(dir, "operator.json"),
    };
    await writeKeyFile(join(dir, "operator.json"), TEST_OPERATOR, { displayName: "test operator" });
  });

  after(async () => {
    const codes = await system?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("keys, bootstrap, propose, accept, commit, reveal and status: a game played from the command line", async () => {
    for (const name of ["ada", "bo", "cy"]) {
      ids[name] = (
        await json<{ memberId: string }>(["keys", "generate", "--key", `${name}.json`, "--name", name])
      ).memberId;
    }
    assert.equal((await stat(join(dir, "ada.json"))).mode & 0o777, 0o600);
    await writeFile(join(dir, "agreement.txt"), "Members act in good faith.\n");
    const boot = await json<{ memberIds: string[] }>([
      "bootstrap",
      "--member",
      "ada.json",
      "--member",
      "bo.json",
      "--agreement-file",
      "agreement.txt",
      "--agreement-uri",
      "https://example.org/agreement",
    ]);
    assert.deepEqual(boot.memberIds, [ids.ada, ids.bo]);

    // The adjudicator's first policy reaches the matchmaker on its own schedule.
    const proposed = await eventually("a proposal once the policy is adopted", async () => {
      const run = await pot([
        "propose",
        "--key",
        "ada.json",
        "--partner",
        ids.bo!,
        "--candidate-key",
        "cy.json",
        "--json",
      ]);
      return run.code === 0 ? (JSON.parse(run.stdout) as { proposalId: string; expiresAtMs: string }) : undefined;
    });
    assert.match(proposed.proposalId, /^[0-9a-f-]{36}$/);
    assert.match(proposed.expiresAtMs, /^\d+$/, "uint64 as a string");
    const accepted = await json<{ gameId: string }>(["accept", proposed.proposalId, "--key", "bo.json"]);
    gameId = accepted.gameId;
    assert.equal(gameId, proposed.proposalId);

    const committed = await ok(["commit", gameId, "--move", "cooperate", "--key", "ada.json"]);
    assert.match(committed.stdout, /^committed to game /);
    assert.match(committed.stderr, new RegExp(`pot reveal ${gameId}`), "a hint for the next step");
    await ok(["commit", gameId, "--move", "cooperate", "--key", "bo.json"]);
    const first = await ok(["reveal", gameId, "--key", "ada.json"]);
    assert.match(first.stdout, /resolves when the other sponsor reveals/);
    const last = await json<{ outcome: string; move: string }>(["reveal", gameId, "--key", "bo.json"]);
    assert.equal(last.outcome, "OUTCOME_BOTH_COOPERATED");
    assert.equal(last.move, "cooperate");

    const game = await json<{ phase: string; outcome: string }>(["status", "game", gameId]);
    assert.equal(game.phase, "GAME_PHASE_RESOLVED");
    assert.equal(game.outcome, "OUTCOME_BOTH_COOPERATED");
    const candidate = await eventually("the candidate admitted", async () => {
      const run = await pot(["status", "member", ids.cy!, "--json"]);
      return run.code === 0 ? (JSON.parse(run.stdout) as { kind: string; sponsorIds: string[] }) : undefined;
    });
    assert.equal(candidate.kind, "ADMISSION_KIND_SPONSORED");
    assert.deepEqual([...candidate.sponsorIds].sort(), [ids.ada, ids.bo].sort());
    const mine = await json<{ member: { displayName: string }; stake: { available?: boolean; gameId: string } }>([
      "status",
      "--key",
      "ada.json",
    ]);
    assert.equal(mine.member.displayName, "ada");
    assert.equal(mine.stake.gameId, gameId, "the game locks the stake");
    assert.notEqual(mine.stake.available, true);
    const human = await ok(["status", "policy"]);
    assert.match(human.stdout, /^policy +v1\nadmission +stake 7 d, /);
  });

  test("events tail: decoded envelopes as JSON lines, from a sequence, and followed until Ctrl-C", async () => {
    interface Line {
      stream: string;
      seq: number;
      subject: string;
      type: string;
      event: Record<string, string>;
      headers: Record<string, string>;
    }
    const lines = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Line);
    const adjudicator = lines((await ok(["events", "tail", "--service", "adjudicator"])).stdout);
    assert.deepEqual(
      adjudicator.map((e) => e.seq),
      adjudicator.map((_, i) => i + 1),
    );
    assert.deepEqual(
      adjudicator.map((e) => e.type.replace("pot.v1.", "")),
      [
        "PolicyPublished",
        // The operator key of the genesis (pot bootstrap), learnt from identity's stream.
        "OperatorKeysAdopted",
        "GameStarted",
        "MoveCommitted",
        "MoveCommitted",
        "MoveRevealed",
        "MoveRevealed",
        "GameResolved",
      ],
    );
    const commit = adjudicator[3]!;
    assert.equal(commit.subject, `${system.namespace}.adjudicator.game.${gameId}`);
    assert.match(commit.event.commitment ?? "", /^[0-9a-f]{64}$/, "bytes as hex");
    assert.match(commit.event.committedAtMs ?? "", /^\d+$/, "uint64 as a string");
    assert.equal(adjudicator[7]!.event.outcome, "OUTCOME_BOTH_COOPERATED");
    assert.equal(adjudicator[7]!.headers["Pot-Event-Type"], "pot.v1.GameResolved");

    const window = lines(
      (await ok(["events", "tail", "--service", "adjudicator", "--from", "2", "--limit", "2"])).stdout,
    );
    assert.deepEqual(
      window.map((e) => e.seq),
      [2, 3],
    );
    const all = lines((await ok(["events", "tail"])).stdout);
    assert.deepEqual(
      [...new Set(all.map((e) => e.stream))],
      [
        `${system.namespace.toUpperCase()}_IDENTITY`,
        `${system.namespace.toUpperCase()}_MATCHMAKER`,
        `${system.namespace.toUpperCase()}_ADJUDICATOR`,
      ],
    );

    // --follow prints what is appended later, and ends cleanly on SIGINT.
    const known = lines((await ok(["events", "tail", "--service", "identity"])).stdout).length;
    const child = spawn(process.execPath, [CLI, "events", "tail", "--service", "identity", "--follow"], {
      cwd: dir,
      env,
    });
    let followed = "";
    child.stdout.on("data", (chunk: Buffer) => (followed += chunk.toString()));
    const closed = new Promise<number | null>((resolve) => child.once("close", resolve));
    const count = () => followed.split("\n").filter((line) => line.trim() !== "").length;
    await eventually("the identity events so far", async () => (count() >= known ? true : undefined));
    await system.clients.identity.publishAgreement(
      await signedAgreement(system.clients, {
        requestId: randomUUID(),
        hash: new Uint8Array(32).fill(9),
        uri: "https://example.org/agreement/v2",
      }),
    );
    await eventually("the new event, followed", async () =>
      followed.includes("AgreementPublished") ? true : undefined,
    );
    child.kill("SIGINT");
    assert.equal(await closed, 0, "Ctrl-C ends a follow with exit code 0");
    assert.equal(count(), known + 1);
    assert.equal(lines(followed).at(-1)!.type, "pot.v1.AgreementPublished");
  });

  test("bad input and refusals: a documented exit code and one sentence", async () => {
    await refused(["accept", "not-a-uuid", "--key", "bo.json"], 2, /must be a lowercase UUID/);
    await refused(["status"], 2, /key file .*nobody\.json does not exist: run `pot keys generate`/);
    await refused(["reveal", randomUUID(), "--key", "ada.json"], 2, /no move is sealed for game/);
    // Ada's stake is locked by the game for seven days: the matchmaker says why.
    await refused(
      ["propose", "--key", "ada.json", "--partner", ids.cy!, "--kind", "post.create"],
      5,
      /\[FAILED_PRECONDITION\]$/m,
    );
    await refused(
      [
        "bootstrap",
        "--member",
        newMember().id,
        "--member",
        newMember().id,
        "--agreement-hash",
        "ab".repeat(32),
        "--agreement-uri",
        "https://x.org/a",
      ],
      5,
      /already has members.*\[FAILED_PRECONDITION\]/,
    );
    await refused(["status", "member", newMember().id], 4, /\[NOT_FOUND\]/);
    // Operator acts are signed with the operator key files: a member's key is not one of them.
    await refused(
      ["--operator-key", "ada.json", "exclude", ids.bo!, "--reason", "spam"],
      6,
      /^pot: operator_signatures\[0\]: key [0-9a-f]{64} is not a current operator key \(version 1\) \[PERMISSION_DENIED\]$/m,
    );
    await refused(["--operator-key", "missing.json", "exclude", ids.bo!, "--reason", "spam"], 2, /missing\.json/);
    const agreementStatus = await ok(["status", "agreement"]);
    assert.match(agreementStatus.stdout, /operator keys +version 1: 1 of 1 must sign/);
    // The admitted candidate may not sponsor with ada: ada sponsored it (the lineage rule; it is not mature either).
    await ok(["keys", "generate", "--key", "dee.json"]);
    await eventually("the new member known to the matchmaker", async () =>
      (await pot(["status", "stake", ids.cy!])).code === 0 ? true : undefined,
    );
    await refused(
      ["propose", "--key", "cy.json", "--partner", ids.ada!, "--candidate-key", "dee.json"],
      5,
      new RegExp(
        `may not sponsor a game together: ${ids.ada} is a sponsor or controller of ${ids.cy}.*\\[FAILED_PRECONDITION\\]$`,
        "m",
      ),
    );
    // Under a policy without maturity and lineage rules (cy is ada's child), the admitted candidate
    // proposes in turn; only the partner may decline, the proposer cancels.
    const { version: _version, ...policy } = DEFAULT_POLICY;
    await system.clients.adjudicator.publishPolicy(
      await signedPolicy(system.clients, {
        requestId: randomUUID(),
        policy: policyToWire({
          ...policy,
          version: 0,
          growth: { ...policy.growth, maturityPeriodMs: 0, lineageDistance: 0 },
        }),
      }),
    );
    const agreement = await json<{
      networkId: string;
      bootstrapped: boolean;
      agreement: { version: number; uri: string };
    }>(["status", "agreement"]);
    assert.equal(agreement.networkId, TEST_NETWORK);
    assert.equal(agreement.bootstrapped, true);
    assert.ok(agreement.agreement.version >= 1);
    assert.match(agreement.agreement.uri, /^https:\/\/example\.org\/agreement/);
    // The candidate signs a consent for one proposal (a fresh id); the proposer proposes under that id.
    const consent = await json<{ proposalId: string; networkId: string; expiresAtMs: number }>([
      "consent",
      "--key",
      "dee.json",
      "--expires-in",
      "2h",
      "--out",
      "dee-consent.json",
    ]);
    assert.equal(consent.networkId, TEST_NETWORK);
    assert.match(consent.proposalId, /^[0-9a-f-]{36}$/);
    assert.ok(Math.abs(consent.expiresAtMs - (Date.now() + 2 * 3_600_000)) < 60_000);
    const pending = await eventually("the new member to be able to propose", async () => {
      const run = await pot([
        "propose",
        "--key",
        "cy.json",
        "--partner",
        ids.ada!,
        "--consent",
        "dee-consent.json",
        "--json",
      ]);
      return run.code === 0 ? (JSON.parse(run.stdout) as { proposalId: string }) : undefined;
    });
    assert.equal(pending.proposalId, consent.proposalId, "the proposal id the candidate consented to");
    // That consent is public now, but it admits through that proposal only: no credit holder can redeem it.
    await refused(
      ["redeem", "--key", "ada.json", "--consent", "dee-consent.json"],
      6,
      /consent is for proposal .* not for a credit redeemed by member .*\[PERMISSION_DENIED\]/,
    );
    await ok(["consent", "--key", "dee.json", "--network", "another-net", "--out", "foreign-consent.json"]);
    await refused(
      ["propose", "--key", "cy.json", "--partner", ids.bo!, "--consent", "foreign-consent.json"],
      2,
      /is for network 'another-net', not for network 'pot-test'/,
    );
    await refused(["decline", pending.proposalId, "--key", "bo.json"], 6, /only the partner .*\[PERMISSION_DENIED\]/);
    assert.match((await ok(["cancel", pending.proposalId, "--key", "cy.json"])).stdout, /cancelled/);
    const proposal = await json<{ status: string }>(["status", "proposal", pending.proposalId]);
    assert.equal(proposal.status, "PROPOSAL_STATUS_CANCELLED");
    await refused(
      ["status", "policy", "--adjudicator", "127.0.0.1:1", "--timeout", "1500"],
      9,
      /\[(UNAVAILABLE|DEADLINE_EXCEEDED)\]/,
    );
    await refused(
      ["events", "tail", "--namespace", "nosuchnetwork"],
      4,
      /stream NOSUCHNETWORK_IDENTITY does not exist/,
    );

    const help = await ok(["propose", "--help"]);
    assert.match(help.stdout, /--candidate-key <file>/);
    assert.match((await ok(["--help"])).stdout, /Exit codes:/);
  });

  test("the streams agree with what the CLI did", async () => {
    const types: string[] = [];
    for await (const record of readEvents(system.nc, { namespace: system.namespace, service: "matchmaker" })) {
      types.push(record.envelope.type.replace("pot.v1.", ""));
    }
    assert.equal(types.filter((t) => t === "ProposalMade").length, 2, "refused proposals append nothing");
    assert.equal(types.filter((t) => t === "GameOpened").length, 1);
    assert.equal(types.filter((t) => t === "ProposalCancelled").length, 1);
  });

  test("pot demo plays on the running services and restores their policy", async () => {
    const before = await json<{ version: number }>(["status", "policy"]);
    const run = await ok(["demo", "--games", "4", "--genesis", "4", "--seed", "3", "--json"]);
    const result = JSON.parse(run.stdout) as {
      namespace: string;
      games: { outcome: string }[];
      summary: { outcomes: Record<string, number>; events: Record<string, number> };
    };
    assert.equal(result.namespace, system.namespace, "it used the services that answered");
    assert.equal(result.games.length, 4);
    assert.equal(
      Object.values(result.summary.outcomes).reduce((a, b) => a + b, 0),
      4,
      "the streams record every game it played",
    );
    const after = await json<{ version: number; pairCooldownMs: string }>(["status", "policy"]);
    assert.equal(after.version, before.version + 2, "the demo policy, then the previous one again");
    assert.equal(after.pairCooldownMs, String(180 * 86_400_000));
  });

  test("pot replay rebuilds every projection and pot verify audits the log", async () => {
    const replayed = await json<{ service: string; events: number; eventsPerSecond: number; tables: unknown[] }[]>([
      "replay",
      "all",
      "--database",
      system.databaseUrl,
    ]);
    assert.deepEqual(
      replayed.map((r) => r.service),
      ["identity", "matchmaker", "adjudicator"],
    );
    for (const result of replayed) {
      assert.ok(result.events > 0 && result.eventsPerSecond > 0, `${result.service}: events and a rate`);
      assert.ok(result.tables.length > 0);
    }
    const human = await ok(["replay", "adjudicator", "--database", system.databaseUrl]);
    assert.match(human.stdout, /^adjudicator: \d+ events replayed in [\d.]+ s \([\d,]+ events\/s\)\n/);
    assert.match(human.stdout, /^ {2}games +\d+ rows +digest [0-9a-f]{32}$/m);
    // The service keeps answering from the swapped-in tables.
    assert.equal((await json<{ phase: string }>(["status", "game", gameId])).phase, "GAME_PHASE_RESOLVED");

    const verified = await ok(["verify"]);
    assert.match(verified.stdout, /^verified \d+ events of \d+ games, \d+ operator act signatures: no mismatches$/m);
  });
});
