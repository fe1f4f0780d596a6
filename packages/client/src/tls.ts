import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { LocalFileError } from "./errors.js";

/** PEM files of a mutual TLS client: the CA that issued the services' certificate, and the client's own certificate and key. */
export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Channel credentials for the services' mutual TLS: the server must present a certificate issued by
 * `ca` for the address dialled (127.0.0.1, localhost, or its DNS name), and the client presents
 * `cert`, whose `pot-role:` SAN URIs decide what it may call. Throws LocalFileError naming a file
 * that is missing or unreadable.
 */
export function mutualTls(files: TlsFiles): grpc.ChannelCredentials {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new LocalFileError(path, `TLS ${what} ${path} cannot be read: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  return grpc.credentials.createSsl(read("CA", files.ca), read("key", files.key), read("certificate", files.cert));
}
