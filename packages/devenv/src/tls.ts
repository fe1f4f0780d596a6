// A local certificate authority for development and tests: one CA, a server certificate the three
// services share, and a client certificate per role (SAN URI `pot-role:<role>`, see the service
// kit's grpc-access.ts). Never for production: the CA's key lies next to the certificates.
import { X509Certificate as NodeX509, KeyObject, randomBytes, webcrypto } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
// @peculiar/x509 resolves its parts with tsyringe, which needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { repoRoot } from "./repo.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const CLIENT_ROLES = ["operator", "platform", "readonly"] as const;
export type ClientRole = (typeof CLIENT_ROLES)[number];

export interface KeyPairFiles {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key, mode 0600. */
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  /** PEM certificate of the CA, what both sides trust. */
  readonly ca: string;
  /** The services' certificate: serverAuth, SAN localhost, 127.0.0.1 and ::1. */
  readonly server: KeyPairFiles;
  /** One clientAuth certificate per role. */
  readonly clients: Readonly<Record<ClientRole, KeyPairFiles>>;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** The files of the PKI in `dir` (whether or not they exist). */
export function pkiFiles(dir: string): Pki {
  const pair = (name: string): KeyPairFiles => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  return {
    dir,
    ca: join(dir, "ca.crt"),
    server: pair("server"),
    clients: { operator: pair("operator"), platform: pair("platform"), readonly: pair("readonly") },
  };
}

/** Where `npm start`, the CLI and the demo keep the development PKI: `<repo>/.pot/tls` (git-ignored). */
export function defaultPkiDir(): string {
  return join(repoRoot(), ".pot", "tls");
}

/**
 * Creates a fresh CA and every certificate in `dir` (ECDSA P-256, SHA-256): a CA valid 10 years,
 * leaves valid `days` (default 825). Overwrites what is there.
 */
export async function createPki(dir: string, options: { name?: string; days?: number } = {}): Promise<Pki> {
  const files = pkiFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(options.name ?? "Proof-of-Trust development CA");
  await writeFile(join(dir, "ca.key"), await privatePem(ca.keys.privateKey), { mode: 0o600 });
  const days = options.days ?? 825;
  await issue(ca, files.server, { name: "pot-services", usage: "server", days });
  for (const role of CLIENT_ROLES) {
    await issue(ca, files.clients[role], { name: `pot-${role}`, usage: "client", roles: [role], days });
  }
  // The CA certificate last: its presence marks a complete PKI.
  await writeAtomically(files.ca, ca.certificate.toString("pem"), 0o644);
  return files;
}

/**
 * The development PKI in `dir` (default `<repo>/.pot/tls`): created on first use, and created anew
 * when a file is missing or a certificate expires within a day or no longer chains to the CA.
 */
export async function ensurePki(dir = defaultPkiDir(), log?: (line: string) => void): Promise<Pki> {
  const files = pkiFiles(dir);
  const problem = await pkiProblem(files);
  if (problem === undefined) return files;
  await createPki(dir);
  log?.(`${problem}: created a local CA and certificates in ${dir} (development only)`);
  return files;
}

async function pkiProblem(files: Pki): Promise<string | undefined> {
  let ca: NodeX509;
  try {
    ca = new NodeX509(await readFile(files.ca));
  } catch {
    return `no CA certificate at ${files.ca}`;
  }
  for (const pair of [files.server, ...Object.values(files.clients)]) {
    try {
      const certificate = new NodeX509(await readFile(pair.cert));
      await readFile(pair.key);
      if (!certificate.verify(ca.publicKey)) return `${pair.cert} is not issued by ${files.ca}`;
      if (Date.parse(certificate.validTo) < Date.now() + DAY_MS)
        return `${pair.cert} expires on ${certificate.validTo}`;
    } catch {
      return `${pair.cert} or ${pair.key} is missing or unreadable`;
    }
  }
  return undefined;
}

/** The environment that makes a service serve mutual TLS with `pki`'s server certificate. */
export function serviceTlsEnv(pki: Pki): Record<string, string> {
  return { GRPC_TLS_CERT: pki.server.cert, GRPC_TLS_KEY: pki.server.key, GRPC_TLS_CA: pki.ca };
}

export interface IssueOptions {
  /** The subject's CN. */
  readonly name: string;
  readonly usage: "client" | "server";
  /** SAN URIs `pot-role:<role>`; any string, so tests can issue unknown roles. */
  readonly roles?: readonly string[];
  readonly days?: number;
  /** Valid from this many days ago (a negative `days` then gives an expired certificate). */
  readonly backdateDays?: number;
}

/** Issues one more certificate from the CA in `pki.dir` (tests: a certificate without a role, expired, ...). */
export async function issueCertificate(pki: Pki, out: KeyPairFiles, options: IssueOptions): Promise<KeyPairFiles> {
  const ca = await loadCa(pki);
  await issue(ca, out, options);
  return out;
}

interface Ca {
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

async function createCa(name: string): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}

async function loadCa(pki: Pki): Promise<Ca> {
  const certificate = new x509.X509Certificate(await readFile(pki.ca, "utf8"));
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(await readFile(join(pki.dir, "ca.key"), "utf8")),
    ALGORITHM,
    false,
    ["sign"],
  );
  return { certificate, keys: { privateKey, publicKey: await certificate.publicKey.export() } };
}

async function issue(ca: Ca, out: KeyPairFiles, options: IssueOptions): Promise<void> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const notBefore = Date.now() - (options.backdateDays ?? 0) * DAY_MS - 60_000;
  const names: x509.JsonGeneralName[] = [
    ...(options.usage === "server"
      ? ([
          { type: "dns", value: "localhost" },
          { type: "ip", value: "127.0.0.1" },
          { type: "ip", value: "::1" },
        ] as const)
      : []),
    ...(options.roles ?? []).map((role) => ({ type: "url" as const, value: `pot-role:${role}` })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.name}`,
    issuer: ca.certificate.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + 60_000 + (options.days ?? 825) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [options.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false),
    ],
  });
  await writeAtomically(out.key, await privatePem(keys.privateKey), 0o600);
  await writeAtomically(out.cert, certificate.toString("pem"), 0o644);
}

async function privatePem(key: CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }) as string;
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const temporary = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

/** A positive 16-byte serial (the high bit cleared so DER does not read it as negative). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}
