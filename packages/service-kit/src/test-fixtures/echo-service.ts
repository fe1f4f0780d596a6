import { METHOD_ACCESS, type Access } from "../grpc-access.js";
import * as grpc from "@grpc/grpc-js";

/** A hand-written unary service for the kit's own tests, JSON on the wire. */
export interface EchoRequest {
  text: string;
}
export interface EchoResponse {
  text: string;
}

const toJson = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const fromJson = <T>(bytes: Buffer): T => JSON.parse(bytes.toString("utf8")) as T;

export const ECHO_SERVICE = "pot.test.EchoService";

/** The kit's method table plus Echo, open to the platform role. */
export const ECHO_ACCESS: Readonly<Record<string, Access>> = {
  ...METHOD_ACCESS,
  "/pot.test.EchoService/Echo": "platform",
};

export const EchoServiceDefinition = {
  echo: {
    path: `/${ECHO_SERVICE}/Echo`,
    requestStream: false as const,
    responseStream: false as const,
    requestSerialize: (value: EchoRequest): Buffer => toJson(value),
    requestDeserialize: (bytes: Buffer): EchoRequest => fromJson<EchoRequest>(bytes),
    responseSerialize: (value: EchoResponse): Buffer => toJson(value),
    responseDeserialize: (bytes: Buffer): EchoResponse => fromJson<EchoResponse>(bytes),
  },
} as const;

export type EchoClient = grpc.Client & {
  echo(
    request: EchoRequest,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: (error: grpc.ServiceError | null, response?: EchoResponse) => void,
  ): grpc.ClientUnaryCall;
};

export function createEchoClient(address: string, credentials = grpc.credentials.createInsecure()): EchoClient {
  const Client = grpc.makeGenericClientConstructor(EchoServiceDefinition, ECHO_SERVICE);
  return new Client(address, credentials) as unknown as EchoClient;
}

/** Calls Echo; resolves with the response or the ServiceError. */
export function callEcho(
  client: EchoClient,
  request: EchoRequest,
  options: Partial<grpc.CallOptions> = {},
): Promise<{ response?: EchoResponse; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.echo(request, new grpc.Metadata(), options, (error, response) => {
      resolve(error ? { error } : { response: response as EchoResponse });
    });
  });
}
