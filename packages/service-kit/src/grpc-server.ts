import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from "grpc-health-check";
import type { GrpcTransport } from "./config.js";
import { METHOD_ACCESS, type Access } from "./grpc-access.js";
import { authorizationInterceptor, serverCredentials } from "./grpc-transport.js";
import type { Logger } from "./logger.js";
import { contractsProtoFiles, contractsProtoRoot } from "./proto-files.js";

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  /**
   * Fully qualified name, e.g. "pot.v1.MatchmakerService": the name health checks ask about.
   * Derived from the method paths when omitted; refused when it disagrees with them.
   */
  name?: string;
}

export interface GrpcServerOptions {
  logger: Logger;
  services: ServiceRegistration[];
  /**
   * The .proto files reflection describes: relative to the @pot/contracts root (e.g.
   * "pot/v1/identity.proto") or absolute. Defaults to every `pot/v1/*.proto` of the contracts.
   */
  protoFiles?: string[];
  /** Mutual TLS, or plaintext for local development (ServiceConfig.grpcTransport). */
  transport: GrpcTransport;
  /**
   * Who may call each method (default METHOD_ACCESS, every pot RPC). Creating the server fails when
   * a registered method has no entry, so an RPC added to a .proto without a role never serves.
   */
  access?: Readonly<Record<string, Access>>;
  /** grpc-js server options; `interceptors` run after the authorization interceptor. */
  serverOptions?: grpc.ServerOptions;
}

export interface GrpcServer {
  server: grpc.Server;
  /** Binds host:port (port 0 picks one) and resolves with the bound port. */
  bind(address: string): Promise<number>;
  /** Health reports SERVING, overall ("") and for each registered service. */
  markServing(): void;
  /** Health reports NOT_SERVING again, e.g. while a dependency is down. */
  markNotServing(): void;
  /**
   * Reports NOT_SERVING, stops accepting calls, waits for the calls in flight, and cancels those
   * still running after `graceMs`. Idempotent: later calls return the first call's promise.
   */
  shutdown(graceMs: number): Promise<void>;
}

const HEALTH_SERVICE = "grpc.health.v1.Health";
const healthProtoRoot = path.resolve(path.dirname(healthProtoPath), "..", "..");

/** A grpc-js server with health checking and server reflection, services registered, not yet bound. */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const { logger, transport } = options;
  const access = options.access ?? METHOD_ACCESS;
  const names = options.services.map(serviceName);
  const unmapped = options.services
    .flatMap((registration) => Object.values(registration.definition).map((method) => method.path))
    .filter((path) => !Object.hasOwn(access, path));
  if (unmapped.length > 0) {
    throw new Error(`no role is given for ${unmapped.join(", ")}: add them to the service kit's METHOD_ACCESS`);
  }
  const server = new grpc.Server({
    ...options.serverOptions,
    interceptors: [
      authorizationInterceptor({ transport, logger, access }),
      ...(options.serverOptions?.interceptors ?? []),
    ],
  });
  const credentials = serverCredentials(transport);

  for (const [index, registration] of options.services.entries()) {
    server.addService(registration.definition, registration.implementation);
    logger.debug({ service: names[index] }, "gRPC service registered");
  }

  const health = new HealthImplementation(Object.fromEntries(["", ...names].map((name) => [name, "NOT_SERVING"])));
  health.addToServer(server);
  const setStatus = (status: ServingStatus) => {
    for (const name of ["", ...names]) health.setStatus(name, status);
  };

  const protoRoot = contractsProtoRoot();
  const packageDefinition = protoLoader.loadSync(
    [...(options.protoFiles ?? contractsProtoFiles(protoRoot)), "health/v1/health.proto"],
    // keepCase: the descriptors reflection serves keep the .proto field names (member_id, not memberId).
    { includeDirs: [protoRoot, healthProtoRoot], keepCase: true },
  );
  new ReflectionService(packageDefinition, { services: [...names, HEALTH_SERVICE] }).addToServer(server);

  let stopped: Promise<void> | undefined;

  return {
    server,
    bind: (address) =>
      new Promise((resolve, reject) => {
        server.bindAsync(address, credentials, (error, port) => {
          if (error) {
            reject(new Error(`cannot bind gRPC to ${address}: ${error.message}`, { cause: error }));
            return;
          }
          if (transport.mode === "insecure") {
            logger.warn(
              { address, port, transport: "plaintext" },
              "GRPC_INSECURE=true: gRPC is PLAINTEXT and UNAUTHENTICATED; anyone who can reach this port is the operator. " +
                "For local development only: set GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA on any shared network",
            );
          } else {
            logger.info({ address, port, transport: "mtls", ...transport.files }, "gRPC serves mutual TLS");
          }
          resolve(port);
        });
      }),
    markServing: () => setStatus("SERVING"),
    markNotServing: () => setStatus("NOT_SERVING"),
    shutdown: (graceMs) =>
      (stopped ??= new Promise<void>((resolve) => {
        setStatus("NOT_SERVING");
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          logger.info({}, "gRPC server stopped");
          resolve();
        };
        const timer = setTimeout(() => {
          logger.warn({ graceMs }, "gRPC calls still running after the grace period; cancelling them");
          server.forceShutdown();
          finish();
        }, graceMs);
        server.tryShutdown((error) => {
          if (error) logger.warn({ err: error }, "gRPC graceful shutdown failed");
          finish();
        });
      })),
  };
}

function serviceName(registration: ServiceRegistration): string {
  const services = new Set(
    Object.values(registration.definition).map((method) => /^\/([^/]+)\/[^/]+$/.exec(method.path)?.[1] ?? method.path),
  );
  const [derived, ...others] = services;
  if (derived === undefined || others.length > 0) {
    throw new Error(`a service definition needs methods of exactly one service, got [${[...services].join(", ")}]`);
  }
  if (registration.name !== undefined && registration.name !== derived) {
    throw new Error(`service name ${registration.name} does not match its methods' service ${derived}`);
  }
  return derived;
}
