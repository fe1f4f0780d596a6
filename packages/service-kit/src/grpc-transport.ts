import * as grpc from "@grpc/grpc-js";
import type { GrpcTransport } from "./config.js";
import { authorize, rolesOf, METHOD_ACCESS, type Access, type Caller } from "./grpc-access.js";
import type { Logger } from "./logger.js";

/**
 * Server credentials for the transport. Mutual TLS requests a client certificate but lets the
 * handshake complete without a valid one, so that the authorization interceptor can answer
 * UNAUTHENTICATED (a status the caller can read) instead of a reset connection; only callers whose
 * certificate chains to the CA are ever treated as authenticated (Node's `socket.authorized`).
 */
export function serverCredentials(transport: GrpcTransport): grpc.ServerCredentials {
  if (transport.mode === "insecure") return grpc.ServerCredentials.createInsecure();
  return new MutualTlsServerCredentials(transport);
}

/**
 * grpc-js's createSsl(ca, pairs, true) would reject a missing or foreign client certificate in the
 * handshake, and createSsl(..., false) would not ask for one: this asks (requestCert) and leaves
 * the verdict (rejectUnauthorized: false) to the interceptor, which reads Node's `authorized`.
 */
class MutualTlsServerCredentials extends grpc.ServerCredentials {
  constructor(transport: Extract<GrpcTransport, { mode: "mtls" }>) {
    super(
      { requestCert: true, rejectUnauthorized: false },
      { ca: transport.ca, cert: transport.certificate, key: transport.privateKey },
    );
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Trailer on every call the interceptor refuses, so a client can tell it from a handler's own PERMISSION_DENIED. */
export const REFUSED_BY_HEADER = "pot-refused-by";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/** The caller of a call, from the TLS session grpc-js reports (peer certificate only when it verified). */
export function callerOf(
  transport: GrpcTransport,
  auth: ReturnType<grpc.ServerInterceptingCallInterface["getAuthContext"]>,
): Caller {
  if (transport.mode === "insecure") return { kind: "insecure" };
  const certificate = auth.sslPeerCertificate;
  if (auth.transportSecurityType !== "ssl" || certificate === undefined || certificate.raw === undefined) {
    return { kind: "anonymous" };
  }
  const usages = certificate.ext_key_usage;
  return {
    kind: "certificate",
    subject: `CN=${certificate.subject?.CN ?? "?"} (sha256 ${certificate.fingerprint256.slice(0, 23)})`,
    roles: rolesOf(certificate.subjectaltname),
    clientAuth: usages === undefined || usages.includes(CLIENT_AUTH_OID),
  };
}

/**
 * The one authorization interceptor: before a handler sees anything, it decides from the method's
 * entry in `access` and the caller's certificate, and ends a refused call with UNAUTHENTICATED or
 * PERMISSION_DENIED. Handlers never see a refused call's request.
 */
export function authorizationInterceptor(options: {
  transport: GrpcTransport;
  logger: Logger;
  access?: Readonly<Record<string, Access>>;
}): grpc.ServerInterceptor {
  const access = options.access ?? METHOD_ACCESS;
  return (method, call) => {
    const verdict = authorize(method.path, callerOf(options.transport, call.getAuthContext()), access);
    if (verdict.allowed) return new grpc.ServerInterceptingCall(call);
    options.logger.warn(
      { method: method.path, code: verdict.code, peer: call.getPeer(), reason: verdict.details },
      "gRPC call refused",
    );
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata(() => {
        const metadata = new grpc.Metadata();
        metadata.set(REFUSED_BY_HEADER, "authorization");
        call.sendStatus({ code: grpc.status[verdict.code], details: verdict.details, metadata });
      })
      .withOnReceiveMessage(() => {})
      .withOnReceiveHalfClose(() => {})
      .build();
    return new grpc.ServerInterceptingCall(
      call,
      new grpc.ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };
}
