import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { GameResolved } from "@pot/contracts";
import { repoRoot } from "@pot/devenv";
import { DEAD_LETTER_RETRY_HEADER, encodeEnvelope, envelopeHeaders, envelopeOf, streamNames } from "@pot/event-store";
import { eventually } from "./support/clients.js";
import { bootstrap, newMember, TEST_NETWORK } from "./support/players.js";
import { startSystem, type System } from "./support/system.js";

const CLI = join(repoRoot(), "packages", "cli", "dist", "main.js");
const GARBAGE = new Uint8Array([0x0a, 0xff, 0xff, 0x01]);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Letter {
  service: string;
  seq: number;
  stream: string;
  originalSeq: number;
  subject: string;
  kind: string;
  reason: string;
  consumer: string;
  attempts: number;
  time: string;
  retried: { seq: number; time: string; as: number } | null;
}

/**
 * `pot dead-letters list|show|retry`, `pot replay` and `pot verify` as an operator runs them: the
 * compiled CLI as a child process, against three service processes on a NATS server with the
 * network's users and permissions (the reader lists and shows; only the admin re-drives).
 */
describe("pot dead-letters, replay and verify over poison", () => {
  let system: System;
  let env: NodeJS.ProcessEnv;
  let garbageSeq = 0;
  let invalidSeq = 0;

  const pot = (args: string[], as: "reader" | "admin" = "reader"): Promise<Run> =>
    new Promise((resolve, reject) => {
      const user = system.natsUsers![as];
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...env, NATS_USER: user.user, NATS_PASSWORD: user.password },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (args: string[], as?: "reader" | "admin"): Promise<Run> => {
    const run = await pot(args, as);
    assert.equal(run.code, 0, `pot ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
    return run;
  };
  /** A refusal: the exit code and one sentence on stderr, nothing on stdout. */
  const refused = async (args: string[], code: number, pattern: RegExp, as?: "reader" | "admin") => {
    const run = await pot(args, as);
    assert.equal(run.code, code, `pot ${args.join(" ")}: expected exit ${code}, got ${run.code}: ${run.stderr}`);
    assert.match(run.stderr, /^pot: [^\n]+\n$/, `one sentence on stderr: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, pattern);
    assert.equal(run.stdout, "");
  };
  const list = async (service = "adjudicator"): Promise<Letter[]> =>
    JSON.parse((await ok(["dead-letters", "list", "--service", service, "--json"])).stdout) as Letter[];

  before(async () => {
    system = await startSystem({ secureNats: true, env: { DEAD_LETTER_AFTER: "2" } });
    env = {
      ...process.env,
      POT_IDENTITY_ADDRESS: system.services.get("identity")!.grpcAddress,
      POT_MATCHMAKER_ADDRESS: system.services.get("matchmaker")!.grpcAddress,
      POT_ADJUDICATOR_ADDRESS: system.services.get("adjudicator")!.grpcAddress,
      NATS_URL: system.natsUrl,
      DATABASE_URL: system.databaseUrl,
      POT_NAMESPACE: system.namespace,
      POT_NETWORK_ID: TEST_NETWORK,
      POT_TLS_DIR: system.pki.dir,
    };
    await bootstrap(system.clients, [newMember(), newMember()]);
    // Poison on the adjudicator's stream, published as the admin: garbage, and a GameResolved
    // without its sponsors (a valid type with invalid content).
    const js = jetstream(system.nc);
    const names = streamNames(system.namespace, "adjudicator");
    garbageSeq = (await js.publish(`${names.prefix}.game.garbage`, GARBAGE)).seq;
    const subject = `${names.prefix}.game.invalid`;
    const invalid = envelopeOf({
      event: { $case: "gameResolved", value: GameResolved.fromPartial({ gameId: "invalid" }) },
      subject,
      eventId: "invalid-1",
      causationId: "invalid-1",
      correlationId: "invalid-1",
      occurredAt: new Date(),
    });
    invalidSeq = (await js.publish(subject, encodeEnvelope(invalid), { headers: envelopeHeaders(invalid) })).seq;
    await eventually("the adjudicator's read model to dead-letter both", async () => {
      const letters = await list();
      return letters.some((l) => l.originalSeq === invalidSeq) && letters.some((l) => l.originalSeq === garbageSeq)
        ? letters
        : undefined;
    });
  });

  after(async () => {
    const codes = await system?.stop();
    assert.deepEqual(codes, [0, 0, 0]);
  });

  test("list: each dead letter with its stream, sequence, subject, reason, attempts and time", async () => {
    const letters = await list();
    const stream = streamNames(system.namespace, "adjudicator").stream;
    const garbage = letters.find(
      (l) => l.originalSeq === garbageSeq && l.consumer.endsWith("_adjudicator_views_adjudicator"),
    );
    assert.ok(garbage, JSON.stringify(letters));
    assert.equal(garbage.stream, stream);
    assert.equal(garbage.subject, `${system.namespace}.adjudicator.game.garbage`);
    assert.equal(garbage.kind, "undecodable");
    assert.equal(garbage.attempts, 1);
    assert.ok(garbage.reason.length > 0);
    assert.ok(!Number.isNaN(Date.parse(garbage.time)));
    assert.equal(garbage.retried, null);
    const invalid = letters.find((l) => l.originalSeq === invalidSeq && l.kind === "invalid");
    assert.match(invalid!.reason, /ValidationError/);

    // Every service's at once, for people: one entry per dead letter and a count.
    const human = await ok(["dead-letters", "list"]);
    assert.match(human.stdout, new RegExp(`adjudicator +\\d+  ${stream}:${garbageSeq}  \\S+game.garbage  undecodable`));
    assert.match(human.stdout, /\d+ dead letter\(s\), \d+ not retried\n$/);
    // The identity and matchmaker reactions to the adjudicator's stream dead-lettered the garbage too.
    const identity = await list("identity");
    assert.ok(identity.some((l) => l.originalSeq === garbageSeq && l.stream === stream));
  });

  test("show: every header, the event when it decodes, the bytes when it does not", async () => {
    const letters = await list();
    const invalid = letters.find((l) => l.originalSeq === invalidSeq && l.kind === "invalid")!;
    const shown = JSON.parse(
      (await ok(["dead-letters", "show", String(invalid.seq), "--service", "adjudicator", "--json"])).stdout,
    ) as { headers: Record<string, string>; event: { type: string } | null; hex: string };
    assert.equal(shown.headers["Pot-Dead-Reason-Kind"], "invalid");
    assert.equal(shown.headers["Pot-Dead-Seq"], String(invalidSeq));
    assert.equal(shown.headers["Pot-Event-Type"], "pot.v1.GameResolved");
    assert.equal(shown.event?.type, "pot.v1.GameResolved");

    const garbage = letters.find((l) => l.originalSeq === garbageSeq)!;
    const human = await ok(["dead-letters", "show", String(garbage.seq), "--service", "adjudicator"]);
    assert.match(human.stdout, /Pot-Dead-Reason: /);
    assert.match(human.stdout, new RegExp(`undecodable \\(.*\\): 4 bytes ${Buffer.from(GARBAGE).toString("hex")}`));
  });

  test("bad input: a clear sentence and an exit code", async () => {
    await refused(["dead-letters", "show", "99999", "--service", "adjudicator"], 4, /no dead letter at sequence 99999/);
    await refused(["dead-letters", "show", "abc", "--service", "adjudicator"], 2, /must be a whole number/);
    await refused(["dead-letters", "show", "1"], 2, /--service/);
    await refused(["dead-letters", "retry", "1", "--service", "nobody"], 2, /--service/);
    // Another namespace (as the admin: the reader's inbox is its network's).
    await refused(
      ["dead-letters", "list", "--namespace", "nosuchnet"],
      4,
      /NOSUCHNET_DEAD_IDENTITY does not exist/,
      "admin",
    );
  });

  test("retry: the reader may not; the admin re-publishes the original once, marked, and it is dead-lettered again", async () => {
    const letters = await list();
    const garbage = letters.find(
      (l) => l.originalSeq === garbageSeq && l.consumer.endsWith("_adjudicator_views_adjudicator"),
    )!;
    const args = ["dead-letters", "retry", String(garbage.seq), "--service", "adjudicator"];
    await refused(args, 6, /retry as the NATS admin/, "reader");

    const retried = JSON.parse((await ok([...args, "--json"], "admin")).stdout) as {
      republishedSeq: number;
      subject: string;
    };
    assert.equal(retried.subject, garbage.subject);
    const jsm = await jetstreamManager(system.nc);
    const message = await jsm.streams.getMessage(garbage.stream, { seq: retried.republishedSeq });
    assert.deepEqual([...message!.data], [...GARBAGE], "the original bytes");
    assert.equal(message!.subject, garbage.subject);
    assert.match(message!.header!.get(DEAD_LETTER_RETRY_HEADER), /_DEAD_ADJUDICATOR:\d+$/);

    await refused(args, 7, /retried already/, "admin");
    const after = await eventually("the re-driven garbage to be dead-lettered again", async () => {
      const now = await list();
      return now.some((l) => l.originalSeq === retried.republishedSeq) ? now : undefined;
    });
    assert.equal(after.find((l) => l.seq === garbage.seq)?.retried?.as, retried.republishedSeq);
  });

  test("replay skips what it cannot apply, says so, swaps in and exits 10; verify reports and goes on", async () => {
    const run = await pot(["replay", "adjudicator", "--json"], "admin");
    assert.equal(run.code, 10, run.stderr);
    assert.match(run.stderr, /^pot: the read models were rebuilt and swapped in, but \d+ message\(s\) .* skipped/);
    const result = JSON.parse(run.stdout) as {
      events: number;
      skipped: { stream: string; seq: number; reason: string }[];
    };
    const stream = streamNames(system.namespace, "adjudicator").stream;
    assert.ok(result.events > 0);
    const seqs = result.skipped.map((s) => s.seq);
    assert.ok(seqs.includes(garbageSeq), JSON.stringify(result.skipped));
    assert.ok(seqs.includes(invalidSeq), JSON.stringify(result.skipped));
    assert.ok(result.skipped.every((s) => s.stream === stream && s.reason.length > 0));

    const verify = await pot(["verify"]);
    assert.equal(verify.code, 10, verify.stderr);
    assert.match(verify.stdout, /message\(s\) skipped/);
    assert.match(verify.stdout, new RegExp(`adjudicator seq ${garbageSeq} .*undecodable`));
  });
});
