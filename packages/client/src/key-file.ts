import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { bytesToHex } from "@pot/mechanism";
import { LocalFileError } from "./errors.js";
import { memberFromSecretHex, type Member } from "./members.js";

export const KEY_FILE_FORMAT = "pot-member-key/v1";

/** What a key file holds. The secret key never leaves it except to sign. */
export interface KeyFileContent {
  readonly format: typeof KEY_FILE_FORMAT;
  readonly memberId: string;
  readonly publicKey: string;
  readonly secretKey: string;
  readonly displayName: string;
  readonly createdAt: string;
}

export interface LoadedKey {
  readonly member: Member;
  readonly displayName: string;
  readonly path: string;
  /** True when group or others may read the file (POSIX modes): the caller should warn. */
  readonly readableByOthers: boolean;
}

export function keyFileContent(member: Member, displayName = "", createdAt = new Date()): KeyFileContent {
  return {
    format: KEY_FILE_FORMAT,
    memberId: member.id,
    publicKey: bytesToHex(member.keys.publicKey),
    secretKey: bytesToHex(member.keys.secretKey),
    displayName,
    createdAt: createdAt.toISOString(),
  };
}

/** Checks a parsed key file and rebuilds the member from its secret key. */
export function parseKeyFile(text: string, path: string): { member: Member; displayName: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new LocalFileError(path, `key file ${path} is not JSON`, { cause: error });
  }
  const record = (typeof data === "object" && data !== null ? data : {}) as Partial<
    Record<keyof KeyFileContent, unknown>
  >;
  if (record.format !== KEY_FILE_FORMAT) {
    throw new LocalFileError(path, `${path} is not a Proof-of-Trust key file (format is not "${KEY_FILE_FORMAT}")`);
  }
  if (typeof record.secretKey !== "string" || !/^[0-9a-f]{64}$/.test(record.secretKey)) {
    throw new LocalFileError(path, `key file ${path} has no valid secretKey (64 lowercase hex characters)`);
  }
  const member = memberFromSecretHex(record.secretKey);
  if (record.memberId !== member.id || record.publicKey !== member.id) {
    throw new LocalFileError(
      path,
      `key file ${path} is inconsistent: its memberId/publicKey do not match its secretKey`,
    );
  }
  return { member, displayName: typeof record.displayName === "string" ? record.displayName : "" };
}

/**
 * Writes a member's key pair to `path` with mode 0600 (its folder is created with 0700). Refuses to
 * replace an existing file unless `overwrite`; the write is atomic either way (temp file, then link
 * or rename), so a crash never leaves half a key.
 */
export async function writeKeyFile(
  path: string,
  member: Member,
  options: { displayName?: string; overwrite?: boolean; createdAt?: Date } = {},
): Promise<void> {
  const content = keyFileContent(member, options.displayName ?? "", options.createdAt);
  await writeSecretFile(path, `${JSON.stringify(content, null, 2)}\n`, options.overwrite ?? false);
}

export async function readKeyFile(path: string): Promise<LoadedKey> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? String(error)})`;
    throw new LocalFileError(path, `key file ${path} ${why}`, { cause: error });
  }
  const { member, displayName } = parseKeyFile(text, path);
  const mode = (await stat(path)).mode;
  return { member, displayName, path, readableByOthers: process.platform !== "win32" && (mode & 0o077) !== 0 };
}

/** Atomically writes a file only its owner can read; `overwrite: false` refuses an existing file. */
export async function writeSecretFile(path: string, text: string, overwrite: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temp, text, { mode: 0o600, flag: "wx" });
  try {
    if (overwrite) {
      await rename(temp, path);
    } else {
      try {
        await link(temp, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") {
          throw new LocalFileError(path, `${path} already exists; refusing to overwrite it`, { cause: error });
        }
        throw error;
      }
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
