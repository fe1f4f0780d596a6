/**
 * Who may call which gRPC method: the one table the authorization interceptor reads.
 *
 * A caller's roles come from its TLS client certificate: every subjectAltName URI of the form
 * `pot-role:<role>` grants that role (a certificate may carry several). The roles are ordered by
 * power — `readonly` < `platform` < `operator` — and a method names the least role that may call
 * it, so an operator certificate may also submit member acts and read, a platform certificate may
 * submit member acts and read, and a read-only certificate may only read. The role says which
 * program may submit a request; member acts are in addition signed by the member's key, so a
 * platform certificate never lets anyone act for a member whose key it does not hold.
 *
 * `public` methods need no client certificate at all (the connection is still TLS): health
 * checking, so that load balancers and orchestrators can probe a service without a client
 * identity; it tells only whether a service is serving. Reflection describes the API and needs
 * any valid client certificate with a role.
 */
export const ROLES = ["readonly", "platform", "operator"] as const;
export type Role = (typeof ROLES)[number];
export type Access = "public" | Role;

export const ROLE_URI_PREFIX = "pot-role:";

/** Every method any pot service serves, by its gRPC path. A method absent here is refused to everyone. */
export const METHOD_ACCESS: Readonly<Record<string, Access>> = {
  // identity
  "/pot.v1.IdentityService/Bootstrap": "operator",
  "/pot.v1.IdentityService/PublishAgreement": "operator",
  "/pot.v1.IdentityService/Exclude": "operator",
  "/pot.v1.IdentityService/RotateOperatorKeys": "operator",
  "/pot.v1.IdentityService/RedeemCredit": "platform",
  "/pot.v1.IdentityService/GetMember": "readonly",
  "/pot.v1.IdentityService/ListMembers": "readonly",
  "/pot.v1.IdentityService/GetLineage": "readonly",
  "/pot.v1.IdentityService/GetAdmissionStats": "readonly",
  "/pot.v1.IdentityService/GetAgreement": "readonly",
  // matchmaker
  "/pot.v1.MatchmakerService/Propose": "platform",
  "/pot.v1.MatchmakerService/Accept": "platform",
  "/pot.v1.MatchmakerService/Decline": "platform",
  "/pot.v1.MatchmakerService/Cancel": "platform",
  "/pot.v1.MatchmakerService/GetStake": "readonly",
  "/pot.v1.MatchmakerService/GetProposal": "readonly",
  "/pot.v1.MatchmakerService/GetPairCooldown": "readonly",
  // adjudicator
  "/pot.v1.AdjudicatorService/PublishPolicy": "operator",
  "/pot.v1.AdjudicatorService/CommitMove": "platform",
  "/pot.v1.AdjudicatorService/RevealMove": "platform",
  "/pot.v1.AdjudicatorService/GetGame": "readonly",
  "/pot.v1.AdjudicatorService/GetPolicy": "readonly",
  "/pot.v1.AdjudicatorService/ListGames": "readonly",
  "/pot.v1.AdjudicatorService/GetTrustEdges": "readonly",
  "/pot.v1.AdjudicatorService/GetNetworkStats": "readonly",
  // what the service kit adds to every server
  "/grpc.health.v1.Health/Check": "public",
  "/grpc.health.v1.Health/Watch": "public",
  "/grpc.health.v1.Health/List": "public",
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": "readonly",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "readonly",
};

/** The caller as the transport established it. */
export type Caller =
  /** Plaintext transport, chosen for local development: no identity, every role. */
  | { readonly kind: "insecure" }
  /** TLS without a client certificate that chains to the configured CA (none, expired, another CA...). */
  | { readonly kind: "anonymous" }
  | {
      readonly kind: "certificate";
      readonly subject: string;
      readonly roles: readonly Role[];
      readonly clientAuth: boolean;
    };

export type Verdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: "UNAUTHENTICATED" | "PERMISSION_DENIED"; readonly details: string };

/**
 * The roles a certificate's subjectAltName grants, as Node renders it ("DNS:a, URI:pot-role:operator").
 * Only an exact `URI:pot-role:<known role>` entry counts: an unknown role, a quoted or escaped
 * entry, or a role in the subject's CN or OU grants nothing.
 */
export function rolesOf(subjectAltName: string | undefined): Role[] {
  if (subjectAltName === undefined) return [];
  const roles = new Set<Role>();
  for (const entry of subjectAltName.split(", ")) {
    if (!entry.startsWith(`URI:${ROLE_URI_PREFIX}`)) continue;
    const role = entry.slice(`URI:${ROLE_URI_PREFIX}`.length);
    if ((ROLES as readonly string[]).includes(role)) roles.add(role as Role);
  }
  return ROLES.filter((role) => roles.has(role));
}

/** Whether a caller holding `roles` may call a method that needs `access`. */
export function permits(access: Access, roles: readonly Role[]): boolean {
  if (access === "public") return true;
  const needed = ROLES.indexOf(access);
  return roles.some((role) => ROLES.indexOf(role) >= needed);
}

/** The decision of the authorization interceptor, without any I/O. */
export function authorize(
  path: string,
  caller: Caller,
  access: Readonly<Record<string, Access>> = METHOD_ACCESS,
): Verdict {
  const needed = Object.hasOwn(access, path) ? access[path] : undefined;
  if (needed === undefined) {
    return { allowed: false, code: "PERMISSION_DENIED", details: `${path} is not open to any role` };
  }
  if (needed === "public") return { allowed: true };
  switch (caller.kind) {
    case "insecure":
      return { allowed: true };
    case "anonymous":
      return {
        allowed: false,
        code: "UNAUTHENTICATED",
        details: `${path} needs a client certificate issued by the network's CA (none was presented, or it did not verify)`,
      };
    case "certificate": {
      if (!caller.clientAuth) {
        return {
          allowed: false,
          code: "UNAUTHENTICATED",
          details: `the certificate ${caller.subject} is not for TLS client authentication (extended key usage)`,
        };
      }
      if (permits(needed, caller.roles)) return { allowed: true };
      const held = caller.roles.length === 0 ? "no role" : `only ${caller.roles.join(", ")}`;
      return {
        allowed: false,
        code: "PERMISSION_DENIED",
        details: `${path} needs the ${needed} role; the client certificate ${caller.subject} has ${held}`,
      };
    }
    default: {
      const never: never = caller;
      throw new Error(`unknown caller ${JSON.stringify(never)}`);
    }
  }
}
