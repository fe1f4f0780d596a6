import type { ServiceName } from "./service-process.js";

/**
 * NATS users and subject permissions of one network (namespace), for nats-server 2.9.10 and later
 * (`authorization { users [...] }`, no accounts). One user per service, a read-only user for
 * downstream subscribers and the CLI's read commands, and an admin for stream management.
 *
 * The permissions are the minimal set the services use, found by running every suite against a
 * server with them (test/src/security.e2e.test.ts): a service publishes only on its own stream's
 * subjects and on the JetStream API subjects of its own stream and of the durable consumers it
 * owns, and on its own dead-letter stream (`<ns>.dead.<service>.>`, `<NS>_DEAD_<SERVICE>`, which it
 * creates and appends to); it can neither purge, nor delete messages, nor delete or update a
 * stream. The reader reads the dead-letter streams too; re-driving a dead letter (publishing it on
 * a service's stream again) is the admin's (`pot dead-letters retry`). Stream updates
 * (e.g. turning on deny_purge on an existing stream) are the admin's (`sealNetworkStreams`, or a service run once as the admin).
 */

// The broker names of @pot/event-store (naming.ts), repeated here because event-store's tests
// depend on this package; packages/event-store/src/nats-names.unit.test.ts keeps the two in step.
function streamNames(namespace: string, service: ServiceName): { stream: string; prefix: string } {
  return { stream: `${namespace.toUpperCase()}_${service.toUpperCase()}`, prefix: `${namespace}.${service}` };
}

/** The dead-letter stream of `service` (@pot/event-store's deadLetterNames). */
function deadLetterNames(namespace: string, service: ServiceName): { stream: string; prefix: string } {
  return { stream: `${namespace.toUpperCase()}_DEAD_${service.toUpperCase()}`, prefix: `${namespace}.dead.${service}` };
}

function durableName(namespace: string, reader: ServiceName, role: string, source: ServiceName): string {
  return `${namespace}_${reader}_${role}_${source}`;
}

export const NATS_SERVICES: readonly ServiceName[] = ["identity", "matchmaker", "adjudicator"];

/**
 * The durable consumers each service owns, by the stream they read: its read models ("views", on
 * its own stream) and its reactions ("react"). A service whose consumers are not listed here
 * cannot start against an authenticated server: keep this in step with the services' index.ts.
 */
export const SERVICE_CONSUMERS: Readonly<Record<ServiceName, readonly { role: string; source: ServiceName }[]>> = {
  identity: [
    { role: "views", source: "identity" },
    { role: "react", source: "identity" },
    { role: "react", source: "adjudicator" },
  ],
  matchmaker: [
    { role: "views", source: "matchmaker" },
    { role: "react", source: "identity" },
    { role: "react", source: "adjudicator" },
  ],
  adjudicator: [
    { role: "views", source: "adjudicator" },
    { role: "react", source: "matchmaker" },
    // Only identity's network subject: the operator keys (genesis, rotations).
    { role: "react", source: "identity" },
  ],
};

export type NatsRole = ServiceName | "reader" | "admin";

export const NATS_ROLES: readonly NatsRole[] = [...NATS_SERVICES, "reader", "admin"];

/** The NATS user name of `role` in `namespace`, e.g. "pot-identity", "pot-reader", "pot-admin". */
export function natsUserName(namespace: string, role: NatsRole): string {
  return `${namespace}-${role}`;
}

/**
 * The inbox prefix a client of `role` must use: its subscribe permission covers only that prefix
 * (@pot/event-store's natsInboxPrefix, which the services and the CLI use).
 */
export function natsInboxPrefix(namespace: string, role: NatsRole): string {
  return `_INBOX_${namespace}_${role}`;
}

export interface SubjectPermissions {
  readonly publish: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow: readonly string[]; readonly deny?: readonly string[] };
  /** Lets the user answer requests it received (the controlled clock) without publish rights on inboxes. */
  readonly allowResponses?: boolean;
}

/** Every durable consumer of the network, by the stream it lives on. */
function durablesOn(namespace: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const service of NATS_SERVICES) {
    for (const { role, source } of SERVICE_CONSUMERS[service]) {
      const stream = streamNames(namespace, source).stream;
      out.set(stream, [...(out.get(stream) ?? []), durableName(namespace, service, role, source)]);
    }
  }
  return out;
}

/** API subjects that read from a consumer `name` (or `*`) of `stream`: its info, pull requests and acks. */
function consumerUse(stream: string, name: string): string[] {
  return [
    `$JS.API.CONSUMER.INFO.${stream}.${name}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`,
    `$JS.ACK.${stream}.${name}.>`,
  ];
}

/**
 * API subjects that create (or, on 2.9, update) a consumer `name` (or `*`) of `stream`, with or
 * without a filter subject (nats.js 3 on 2.9 creates every consumer by name; the legacy
 * `$JS.API.CONSUMER.DURABLE.CREATE` is not used), and delete it.
 */
function consumerManage(stream: string, name: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.${name}`,
  ];
}

/** The permissions of `role` in `namespace`; the admin has none (everything is allowed). */
export function natsPermissions(namespace: string, role: Exclude<NatsRole, "admin">): SubjectPermissions {
  const durables = durablesOn(namespace);
  const streams = NATS_SERVICES.map((service) => streamNames(namespace, service).stream);
  if (role === "reader") {
    // Reads every stream through its own (ordered, ephemeral) consumers; may not pull from, ack,
    // create over, or delete a service's durable consumer.
    const allow = ["$JS.API.INFO"];
    const deny: string[] = [];
    // The dead-letter streams: read (pot dead-letters list|show), never written.
    for (const service of NATS_SERVICES) {
      const dead = deadLetterNames(namespace, service).stream;
      allow.push(
        `$JS.API.STREAM.INFO.${dead}`,
        `$JS.API.STREAM.MSG.GET.${dead}`,
        ...consumerManage(dead, "*"),
        ...consumerUse(dead, "*"),
      );
    }
    for (const stream of streams) {
      allow.push(
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.STREAM.MSG.GET.${stream}`,
        ...consumerManage(stream, "*"),
        ...consumerUse(stream, "*"),
      );
      for (const durable of durables.get(stream) ?? []) {
        deny.push(...consumerManage(stream, durable), ...consumerUse(stream, durable));
      }
    }
    return {
      publish: { allow, deny },
      subscribe: { allow: [`${natsInboxPrefix(namespace, role)}.>`] },
    };
  }
  const own = streamNames(namespace, role);
  const dead = deadLetterNames(namespace, role);
  const allow = [
    `${own.prefix}.>`,
    // Its dead letters (written by its consumers; re-driven by the admin, `pot dead-letters retry`).
    `${dead.prefix}.>`,
    `$JS.API.STREAM.INFO.${dead.stream}`,
    `$JS.API.STREAM.CREATE.${dead.stream}`,
    "$JS.API.INFO",
    `$JS.API.STREAM.INFO.${own.stream}`,
    `$JS.API.STREAM.CREATE.${own.stream}`,
    `$JS.API.STREAM.MSG.GET.${own.stream}`,
    // Its read models' durable consumer (deleted and re-created to restart at a checkpoint) and the
    // ordered consumers that load aggregates.
    ...consumerManage(own.stream, "*"),
    ...consumerUse(own.stream, "*"),
  ];
  const deny: string[] = [];
  for (const { role: purpose, source } of SERVICE_CONSUMERS[role]) {
    const stream = streamNames(namespace, source).stream;
    if (stream !== own.stream) {
      allow.push(
        `$JS.API.STREAM.INFO.${stream}`,
        // Its reactions' durable consumer: created (or updated) at start, never deleted.
        ...consumerManage(stream, durableName(namespace, role, purpose, source)).filter((s) => !s.includes(".DELETE.")),
        ...consumerUse(stream, durableName(namespace, role, purpose, source)),
      );
    }
  }
  // Other services' durables that live on its own stream: theirs to pull from and acknowledge.
  for (const durable of durables.get(own.stream) ?? []) {
    if (!durable.startsWith(`${namespace}_${role}_`)) {
      deny.push(...consumerManage(own.stream, durable), ...consumerUse(own.stream, durable));
    }
  }
  return {
    publish: { allow: [...new Set(allow)], ...(deny.length > 0 ? { deny } : {}) },
    subscribe: { allow: [`${natsInboxPrefix(namespace, role)}.>`, `${namespace}.clock.${role}`] },
    allowResponses: true,
  };
}

/** How a user's password appears in the config: literally, or as a variable read from the server's environment. */
export type PasswordSource = { readonly literal: string } | { readonly env: string };

/**
 * The users of `namespace`'s network and their permissions, as nats-server configuration.
 * Passwords: a literal (tests, `npm start`, written to a 0600 file) or an environment variable of the
 * server (`$POT_NATS_IDENTITY_PASSWORD`; nats-server substitutes it).
 *
 * Without `account`: an `authorization { users }` block (the server's global account; what the
 * tests and `npm start` run on 2.9.10). With `account`: an `accounts` block in which the network is
 * account `account` with JetStream, next to a system account `SYS` (user `<ns>-sys`, password
 * `$POT_NATS_SYS_PASSWORD`) for monitoring - the production layout (infra/nats/accounts.conf).
 */
export function renderNatsAuthorization(
  namespace: string,
  password: (role: NatsRole) => PasswordSource,
  options: { readonly account?: string } = {},
): string {
  const lines: string[] = [
    `# Users and permissions of network '${namespace}': generated by renderNatsAuthorization()`,
    "# (packages/devenv/src/nats-auth.ts; node scripts/nats-auth.mjs). Do not edit.",
    "# Works on nats-server 2.9.10 and later. See docs/security.md.",
  ];
  const indent = options.account === undefined ? "" : "  ";
  if (options.account === undefined) lines.push("authorization {", "  users: [");
  else lines.push("accounts {", `  ${options.account}: {`, "    jetstream: enabled", "    users: [");
  for (const role of NATS_ROLES) {
    const source = password(role);
    const pass = "literal" in source ? JSON.stringify(source.literal) : `$${source.env}`;
    const user: string[] = [`user: ${JSON.stringify(natsUserName(namespace, role))}`, `password: ${pass}`];
    if (role !== "admin") {
      const permissions = natsPermissions(namespace, role);
      user.push("permissions: {");
      for (const kind of ["publish", "subscribe"] as const) {
        const { allow, deny } = permissions[kind];
        user.push(`  ${kind}: {`, `    allow: ${list(allow, "    ")}`);
        if (deny && deny.length > 0) user.push(`    deny: ${list(deny, "    ")}`);
        user.push("  }");
      }
      if (permissions.allowResponses) user.push("  allow_responses: true");
      user.push("}");
    }
    lines.push(
      `${indent}    {`,
      ...user.flatMap((line) => line.split("\n")).map((line) => `${indent}      ${line}`),
      `${indent}    }`,
    );
  }
  if (options.account === undefined) lines.push("  ]", "}");
  else {
    lines.push("    ]", "  }", "  SYS: {", "    users: [");
    lines.push(`      { user: ${JSON.stringify(`${namespace}-sys`)}, password: $POT_NATS_SYS_PASSWORD }`);
    lines.push("    ]", "  }", "}", "system_account: SYS");
  }
  return `${lines.join("\n")}\n`;
}

function list(subjects: readonly string[], indent: string): string {
  return `[\n${subjects.map((subject) => `${indent}  ${JSON.stringify(subject)}`).join("\n")}\n${indent}]`;
}

/** The environment variable a server reads `role`'s password from in the committed templates. */
export function natsPasswordVariable(role: NatsRole): string {
  return `POT_NATS_${role.toUpperCase()}_PASSWORD`;
}
