import { generateKeyPairSync } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { repoRoot } from "./repo.js";

/** Where `npm start` keeps the local network's operator key (`.pot/` is not committed). */
export function defaultOperatorKeyPath(): string {
  return join(repoRoot(), ".pot", "operator-key.json");
}

/**
 * The local network's operator key file: an Ed25519 key in the `pot-member-key/v1` format the CLI
 * reads (`pot --operator-key`), created with mode 0600 on first use. Development only: in production
 * operator keys are made and kept offline by the operators (docs/operations.md).
 */
export async function ensureOperatorKey(
  path = defaultOperatorKeyPath(),
  log?: (line: string) => void,
): Promise<{ path: string; publicKey: string }> {
  try {
    const existing = JSON.parse(await readFile(path, "utf8")) as { publicKey?: unknown };
    if (typeof existing.publicKey === "string") return { path, publicKey: existing.publicKey };
  } catch {
    // missing or unreadable: create it
  }
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const hex = (base64url: string | undefined) => Buffer.from(base64url ?? "", "base64url").toString("hex");
  const publicKey = hex(jwk.x);
  const content = {
    format: "pot-member-key/v1",
    memberId: publicKey,
    publicKey,
    secretKey: hex(jwk.d),
    displayName: "local operator",
    createdAt: new Date().toISOString(),
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  log?.(
    `created the local network's operator key ${path} (development only; it signs bootstrap, policies, exclusions)`,
  );
  return { path, publicKey };
}
