import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";

/** Test clients for the standard services the kit adds: grpc.health.v1 and reflection v1. */

const require = createRequire(import.meta.url);

function loadService(file: string, service: string): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(file, { keepCase: true, enums: String, defaults: true });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of service.split(".")) node = (node as Record<string, unknown>)[part];
  return node as grpc.ServiceClientConstructor;
}

export async function checkHealth(
  address: string,
  service: string,
  credentials = grpc.credentials.createInsecure(),
): Promise<string> {
  const Health = loadService(healthProtoPath, "grpc.health.v1.Health");
  const client = new Health(address, credentials);
  try {
    return await new Promise((resolve, reject) => {
      client["Check"]!({ service }, (error: grpc.ServiceError | null, response: { status: string }) => {
        if (error) reject(error);
        else resolve(response.status);
      });
    });
  } finally {
    client.close();
  }
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

/** Sends one reflection request and returns the one response. */
export async function reflect(
  address: string,
  request: { list_services: string } | { file_containing_symbol: string },
  credentials = grpc.credentials.createInsecure(),
): Promise<ReflectionResponse> {
  const file = require.resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
  const Reflection = loadService(file, "grpc.reflection.v1.ServerReflection");
  const client = new Reflection(address, credentials);
  try {
    return await new Promise((resolve, reject) => {
      const call = client["ServerReflectionInfo"]!() as grpc.ClientDuplexStream<object, ReflectionResponse>;
      call.on("data", (response: ReflectionResponse) => {
        resolve(response);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  } finally {
    client.close();
  }
}
