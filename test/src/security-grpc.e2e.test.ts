import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, mutualTls, type Connections } from "@pot/client";
import {
  AdjudicatorServiceService,
  IdentityServiceService,
  MatchmakerServiceService,
  GetAdmissionStatsRequest,
  GetAgreementRequest,
  GetGameRequest,
  GetLineageRequest,
  GetMemberRequest,
  GetNetworkStatsRequest,
  GetPairCooldownRequest,
  GetPolicyRequest,
  GetProposalRequest,
  GetStakeRequest,
  GetTrustEdgesRequest,
  ListGamesRequest,
  ListMembersRequest,
} from "@pot/contracts";
import { createPki, type Pki } from "@pot/devenv";
import { streamNames } from "@pot/event-store";
import { DEFAULT_POLICY } from "@pot/mechanism";
import { METHOD_ACCESS, REFUSED_BY_HEADER, type Access } from "@pot/service-kit";
import {
  bootstrapRequest,
  excludeRequest,
  publishAgreementRequest,
  publishPolicyRequest,
  redeemRequest,
  rotateOperatorKeysRequest,
} from "@pot/client";
import { eventually } from "./support/clients.js";
import {
  admissionOf,
  AGREEMENT,
  answerRequest,
  bootstrap,
  commitRequest,
  controlledConsent,
  newMember,
  playGame,
  proposeRequest,
  revealRequest,
  sealMove,
  TEST_NETWORK,
  TEST_OPERATOR,
  type Member,
} from "./support/players.js";
import { SERVICES, startSystem, type System } from "./support/system.js";

/** The callers of the matrix, in its column order. */
const CALLERS = ["no client cert", "wrong CA", "platform", "operator", "read-only"] as const;
type CallerName = (typeof CALLERS)[number];

/** What the interceptor must do with `caller` on a method that needs `access`. */
function expected(access: Access, caller: CallerName): "UNAUTHENTICATED" | "PERMISSION_DENIED" | "passes" {
  if (access === "public") return "passes";
  if (caller === "no client cert" || caller === "wrong CA") return "UNAUTHENTICATED";
  const held = { platform: "platform", operator: "operator", "read-only": "readonly" }[caller];
  const order = ["readonly", "platform", "operator"];
  return order.indexOf(held) >= order.indexOf(access) ? "passes" : "PERMISSION_DENIED";
}

type Service = keyof Omit<Connections, "close">;
type Call = (clients: Connections) => Promise<unknown>;

interface Outcome {
  readonly code: string;
  /** True when the authorization interceptor refused it (its trailer), false when a handler answered. */
  readonly byInterceptor: boolean;
}

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { code: "OK", byInterceptor: false };
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    if (typeof serviceError.code !== "number") throw error;
    return {
      code: grpc.status[serviceError.code]!,
      byInterceptor: serviceError.metadata?.get(REFUSED_BY_HEADER)[0] === "authorization",
    };
  }
}

/**
 * The gRPC rows of the denial matrix (issue #11): the three services as processes serving mutual
 * TLS on real sockets; every RPC called by five callers — no client certificate, a certificate of
 * another CA, and the platform, operator and read-only certificates of the network's CA. Callers
 * the interceptor must refuse send a request that would change the network if it got through (a
 * signed proposal, an accept of an open proposal, a forced bootstrap, a policy...), and every one
 * of those must leave all three streams exactly as they were; afterwards the same requests, sent
 * with the least role that may send them, succeed and append, which proves they were real.
 */
describe("gRPC denial matrix", () => {
  let system: System;
  let jsm: JetStreamManager;
  let otherCa: Pki;
  let otherDir: string;
  const clients = new Map<CallerName, Connections>();
  const genesis: Member[] = Array.from({ length: 14 }, () => newMember());
  const [a, b, c, d, e, f, g, h, m, n, x, y, p, k] = genesis.map((member) => member as Member) as [
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
    Member,
  ];
  const ids: { accept: string; decline: string; cancel: string; commitGame: string; revealGame: string } = {
    accept: "",
    decline: "",
    cancel: "",
    commitGame: "",
    revealGame: "",
  };
  const sealedForReveal = sealMove("cooperate");
  const table: string[] = [];

  before(async () => {
    system = await startSystem();
    jsm = await jetstreamManager(system.nc);
    otherDir = await mkdtemp(join(tmpdir(), "pot-other-ca-"));
    otherCa = await createPki(otherDir, { name: "an attacker's CA" });
    const address = (name: (typeof SERVICES)[number]) => system.services.get(name)!.grpcAddress;
    const addresses = {
      identity: address("identity"),
      matchmaker: address("matchmaker"),
      adjudicator: address("adjudicator"),
    };
    const pki = system.pki;
    const credentials: Record<CallerName, grpc.ChannelCredentials> = {
      "no client cert": grpc.credentials.createSsl(readFileSync(pki.ca)),
      "wrong CA": mutualTls({ ca: pki.ca, ...otherCa.clients.operator }),
      platform: mutualTls({ ca: pki.ca, ...pki.clients.platform }),
      operator: mutualTls({ ca: pki.ca, ...pki.clients.operator }),
      "read-only": mutualTls({ ca: pki.ca, ...pki.clients.readonly }),
    };
    for (const caller of CALLERS)
      clients.set(caller, connect(addresses, { deadlineMs: 5_000, credentials: credentials[caller] }));

    // A live network with something for every refused request to change.
    await bootstrap(system.clients, genesis);
    await eventually("the default policy to reach the matchmaker", async () => {
      const { policy } = await system.clients.adjudicator.getPolicy({ version: 0 });
      return policy?.version === 1 ? policy : undefined;
    });
    const open = async (proposer: Member, partner: Member) => {
      const request = proposeRequest(proposer, partner, admissionOf(newMember()));
      await eventually("a proposal to be accepted by the matchmaker", () => system.clients.matchmaker.propose(request));
      return request.proposalId;
    };
    ids.accept = await open(a, b);
    ids.decline = await open(c, d);
    ids.cancel = await open(e, f);
    const proposal = proposeRequest(g, h, admissionOf(newMember()));
    await system.clients.matchmaker.propose(proposal);
    ids.commitGame = (await system.clients.matchmaker.accept(answerRequest("accept", h, proposal.proposalId))).gameId;
    const second = proposeRequest(m, n, admissionOf(newMember()));
    await system.clients.matchmaker.propose(second);
    ids.revealGame = (await system.clients.matchmaker.accept(answerRequest("accept", n, second.proposalId))).gameId;
    await eventually("the game to open", () =>
      system.clients.adjudicator.commitMove(commitRequest(m, ids.revealGame, sealedForReveal)),
    );
    await system.clients.adjudicator.commitMove(commitRequest(n, ids.revealGame, sealMove("defect")));
    await eventually("the commit game to open", async () => {
      const { game } = await system.clients.adjudicator.getGame(GetGameRequest.fromPartial({ gameId: ids.commitGame }));
      return game;
    });
    // x defects against y: x earns credits to redeem.
    await eventually("a game between x and y", () =>
      playGame(system.clients, x, y, admissionOf(newMember()), ["defect", "cooperate"]),
    );
    await eventually("x's credits", async () => {
      const { member } = await system.clients.identity.getMember(GetMemberRequest.fromPartial({ memberId: x.id }));
      return member && member.credits > 0 ? member : undefined;
    });
    await quiet();
  });

  after(async () => {
    for (const connection of clients.values()) connection.close();
    const codes = await system?.stop();
    if (otherDir) await rm(otherDir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0, 0]);
  });

  /** The last sequence of each service's stream. */
  async function sequences(): Promise<Record<string, number>> {
    const entries = await Promise.all(
      SERVICES.map(async (name) => {
        const info = await jsm.streams.info(streamNames(system.namespace, name).stream);
        return [name, info.state.last_seq] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  /** Waits until no stream has moved for a second (the services' reactions have settled). */
  async function quiet(): Promise<void> {
    let last = JSON.stringify(await sequences());
    for (let stable = 0; stable < 4;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = JSON.stringify(await sequences());
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
  }

  /**
   * Per RPC: the call a refused caller makes (one that would change the network if it got through,
   * for every command), and the call an allowed caller makes in the matrix (commands: an empty
   * request, which the handler refuses as malformed, so the matrix itself changes nothing).
   */
  function calls(): Record<string, { service: Service; real: Call; harmless: Call; mutates: boolean }> {
    const operators = [TEST_OPERATOR.keys];
    const state = () => system.clients.identity.getAgreement(GetAgreementRequest.fromPartial({}));
    // The request message with every field at its default, decoded from zero bytes: it reaches
    // the server (a `{}` would fail to serialize in the client and never leave it).
    const definitions = {
      identity: IdentityServiceService,
      matchmaker: MatchmakerServiceService,
      adjudicator: AdjudicatorServiceService,
    } as const;
    const empty =
      (service: Service, method: string): Call =>
      (cs) => {
        const definition = (definitions[service] as Record<string, { requestDeserialize(bytes: Buffer): object }>)[
          method
        ]!;
        return (cs[service] as unknown as Record<string, (r: object) => Promise<unknown>>)[method]!(
          definition.requestDeserialize(Buffer.alloc(0)),
        );
      };
    const command = (service: Service, method: string, real: Call) => ({
      service,
      real,
      harmless: empty(service, method),
      mutates: true,
    });
    const query = (service: Service, real: Call) => ({ service, real, harmless: real, mutates: false });
    return {
      // Operator acts carry a quorum of the operator keys' signatures (TEST_OPERATOR's, as a thief of
      // the key would): only the certificate decides here. Each is signed for the network's state now.
      "/pot.v1.IdentityService/Bootstrap": command("identity", "bootstrap", async (cs) =>
        cs.identity.bootstrap(
          bootstrapRequest(
            TEST_NETWORK,
            [newMember(), newMember()].map((member) => ({ publicKey: member.keys.publicKey })),
            AGREEMENT,
            { force: true, signers: operators, bootstrapsBefore: (await state()).bootstraps },
          ),
        ),
      ),
      "/pot.v1.IdentityService/PublishAgreement": command("identity", "publishAgreement", async (cs) =>
        cs.identity.publishAgreement(
          publishAgreementRequest(
            TEST_NETWORK,
            { hash: new Uint8Array(32).fill(7), uri: "https://attacker.example/agreement" },
            ((await state()).agreement?.version ?? 0) + 1,
            operators,
          ),
        ),
      ),
      "/pot.v1.IdentityService/Exclude": command("identity", "exclude", (cs) =>
        cs.identity.exclude(excludeRequest(TEST_NETWORK, k.id, "an attacker wants it gone", operators)),
      ),
      "/pot.v1.IdentityService/RotateOperatorKeys": command("identity", "rotateOperatorKeys", async (cs) =>
        cs.identity.rotateOperatorKeys(
          rotateOperatorKeysRequest(
            TEST_NETWORK,
            (await state()).operators?.version ?? 0,
            [TEST_OPERATOR.keys.publicKey],
            1,
            operators,
          ),
        ),
      ),
      "/pot.v1.IdentityService/RedeemCredit": command("identity", "redeemCredit", (cs) =>
        cs.identity.redeemCredit(redeemRequest(TEST_NETWORK, x, controlledConsent(newMember(), x))),
      ),
      "/pot.v1.IdentityService/GetMember": query("identity", (cs) =>
        cs.identity.getMember(GetMemberRequest.fromPartial({ memberId: a.id })),
      ),
      "/pot.v1.IdentityService/ListMembers": query("identity", (cs) =>
        cs.identity.listMembers(ListMembersRequest.fromPartial({})),
      ),
      "/pot.v1.IdentityService/GetLineage": query("identity", (cs) =>
        cs.identity.getLineage(GetLineageRequest.fromPartial({ memberId: a.id })),
      ),
      "/pot.v1.IdentityService/GetAdmissionStats": query("identity", (cs) =>
        cs.identity.getAdmissionStats(GetAdmissionStatsRequest.fromPartial({})),
      ),
      "/pot.v1.IdentityService/GetAgreement": query("identity", (cs) =>
        cs.identity.getAgreement(GetAgreementRequest.fromPartial({})),
      ),
      "/pot.v1.MatchmakerService/Propose": command("matchmaker", "propose", (cs) =>
        cs.matchmaker.propose(proposeRequest(p, k, admissionOf(newMember()))),
      ),
      "/pot.v1.MatchmakerService/Accept": command("matchmaker", "accept", (cs) =>
        cs.matchmaker.accept(answerRequest("accept", b, ids.accept)),
      ),
      "/pot.v1.MatchmakerService/Decline": command("matchmaker", "decline", (cs) =>
        cs.matchmaker.decline(answerRequest("decline", d, ids.decline)),
      ),
      "/pot.v1.MatchmakerService/Cancel": command("matchmaker", "cancel", (cs) =>
        cs.matchmaker.cancel(answerRequest("cancel", e, ids.cancel)),
      ),
      "/pot.v1.MatchmakerService/GetStake": query("matchmaker", (cs) =>
        cs.matchmaker.getStake(GetStakeRequest.fromPartial({ memberId: a.id })),
      ),
      "/pot.v1.MatchmakerService/GetProposal": query("matchmaker", (cs) =>
        cs.matchmaker.getProposal(GetProposalRequest.fromPartial({ proposalId: ids.accept })),
      ),
      "/pot.v1.MatchmakerService/GetPairCooldown": query("matchmaker", (cs) =>
        cs.matchmaker.getPairCooldown(GetPairCooldownRequest.fromPartial({ memberId: x.id, partnerId: y.id })),
      ),
      "/pot.v1.AdjudicatorService/PublishPolicy": command("adjudicator", "publishPolicy", (cs) =>
        cs.adjudicator
          .getPolicy(GetPolicyRequest.fromPartial({}))
          .catch(() => system.clients.adjudicator.getPolicy(GetPolicyRequest.fromPartial({})))
          .then(({ policy }) =>
            cs.adjudicator.publishPolicy(
              publishPolicyRequest(TEST_NETWORK, DEFAULT_POLICY, (policy?.version ?? 0) + 1, operators),
            ),
          ),
      ),
      "/pot.v1.AdjudicatorService/CommitMove": command("adjudicator", "commitMove", (cs) =>
        cs.adjudicator.commitMove(commitRequest(g, ids.commitGame, sealMove("defect"))),
      ),
      "/pot.v1.AdjudicatorService/RevealMove": command("adjudicator", "revealMove", (cs) =>
        cs.adjudicator.revealMove(revealRequest(m, ids.revealGame, sealedForReveal)),
      ),
      "/pot.v1.AdjudicatorService/GetGame": query("adjudicator", (cs) =>
        cs.adjudicator.getGame(GetGameRequest.fromPartial({ gameId: ids.revealGame })),
      ),
      "/pot.v1.AdjudicatorService/GetPolicy": query("adjudicator", (cs) =>
        cs.adjudicator.getPolicy(GetPolicyRequest.fromPartial({ version: 0 })),
      ),
      "/pot.v1.AdjudicatorService/ListGames": query("adjudicator", (cs) =>
        cs.adjudicator.listGames(ListGamesRequest.fromPartial({})),
      ),
      "/pot.v1.AdjudicatorService/GetTrustEdges": query("adjudicator", (cs) =>
        cs.adjudicator.getTrustEdges(GetTrustEdgesRequest.fromPartial({ memberId: x.id })),
      ),
      "/pot.v1.AdjudicatorService/GetNetworkStats": query("adjudicator", (cs) =>
        cs.adjudicator.getNetworkStats(GetNetworkStatsRequest.fromPartial({})),
      ),
    };
  }

  test("every RPC x {no client cert, wrong CA, platform, operator, read-only}: the interceptor's verdict, and refused calls change nothing", async () => {
    const rpcs = calls();
    const paths = Object.keys(METHOD_ACCESS).filter((path) => path.startsWith("/pot."));
    assert.deepEqual(Object.keys(rpcs).sort(), [...paths].sort(), "the matrix covers every RPC of METHOD_ACCESS");
    const mismatches: string[] = [];
    table.push(`| RPC | needs | ${CALLERS.join(" | ")} |`, `| --- | --- | ${CALLERS.map(() => "---").join(" | ")} |`);
    for (const path of paths) {
      const access = METHOD_ACCESS[path]!;
      const rpc = rpcs[path]!;
      const cells: string[] = [];
      for (const caller of CALLERS) {
        const want = expected(access, caller);
        const beforeCall = await sequences();
        const outcome = await outcomeOf((want === "passes" ? rpc.harmless : rpc.real)(clients.get(caller)!));
        const afterCall = await sequences();
        const got = outcome.byInterceptor ? outcome.code : "passes";
        if (outcome.code === "INTERNAL" || outcome.code === "UNKNOWN") {
          mismatches.push(`${path} ${caller}: ${outcome.code} (a client-side failure or a bug, not a verdict)`);
        }
        if (outcome.code === "UNAUTHENTICATED" && !outcome.byInterceptor)
          mismatches.push(`${path} ${caller}: UNAUTHENTICATED without the interceptor's trailer`);
        if (got !== want)
          mismatches.push(
            `${path} ${caller}: expected ${want}, got ${outcome.code}${outcome.byInterceptor ? " (interceptor)" : " (handler)"}`,
          );
        if (want !== "passes" && JSON.stringify(afterCall) !== JSON.stringify(beforeCall)) {
          mismatches.push(
            `${path} ${caller}: refused, but a stream moved ${JSON.stringify(beforeCall)} -> ${JSON.stringify(afterCall)}`,
          );
        }
        cells.push(got === "passes" ? `passes (${outcome.code})` : got);
      }
      table.push(`| ${path.replace("/pot.v1.", "")} | ${access} | ${cells.join(" | ")} |`);
    }
    await quiet();
    console.log(
      `\ngRPC denial matrix (cell: the interceptor's status, or "passes" and the handler's answer):\n${table.join("\n")}\n`,
    );
    assert.deepEqual(mismatches, []);
  });

  test("the refused requests were real: with the least role that may send them, each succeeds and appends", async () => {
    const rpcs = calls();
    const order = [
      "/pot.v1.MatchmakerService/Propose",
      "/pot.v1.MatchmakerService/Accept",
      "/pot.v1.MatchmakerService/Decline",
      "/pot.v1.MatchmakerService/Cancel",
      "/pot.v1.AdjudicatorService/CommitMove",
      "/pot.v1.AdjudicatorService/RevealMove",
      "/pot.v1.IdentityService/RedeemCredit",
      "/pot.v1.IdentityService/Exclude",
      "/pot.v1.IdentityService/PublishAgreement",
      "/pot.v1.AdjudicatorService/PublishPolicy",
      "/pot.v1.IdentityService/Bootstrap",
      "/pot.v1.IdentityService/RotateOperatorKeys",
    ];
    assert.deepEqual(
      [...order].sort(),
      Object.entries(rpcs)
        .filter(([, rpc]) => rpc.mutates)
        .map(([path]) => path)
        .sort(),
    );
    for (const path of order) {
      const rpc = rpcs[path]!;
      const role = METHOD_ACCESS[path] === "operator" ? "operator" : "platform";
      const beforeCall = await sequences();
      const outcome = await outcomeOf(rpc.real(clients.get(role)!));
      assert.equal(outcome.code, "OK", `${path} with the ${role} certificate`);
      const afterCall = await sequences();
      assert.ok(
        afterCall[rpc.service]! > beforeCall[rpc.service]!,
        `${path} appended to the ${rpc.service} stream (${beforeCall[rpc.service]} -> ${afterCall[rpc.service]})`,
      );
    }
  });
});
