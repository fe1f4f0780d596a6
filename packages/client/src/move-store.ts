import { readFile } from "node:fs/promises";
import { bytesToHex, hexToBytes, type MoveName } from "@pot/mechanism";
import { LocalFileError } from "./errors.js";
import { writeSecretFile } from "./key-file.js";
import { sealMove, type SealedMove } from "./requests.js";

export const MOVE_FILE_FORMAT = "pot-sealed-moves/v1";

/** One committed move as kept between the commit and the reveal. */
export interface StoredMove {
  readonly gameId: string;
  readonly memberId: string;
  readonly move: MoveName;
  /** The 32-byte nonce, hex. Secret until the reveal: whoever has it can tell the move. */
  readonly nonce: string;
  readonly sealedAt: string;
  readonly revealedAt?: string;
}

interface MoveFile {
  readonly format: typeof MOVE_FILE_FORMAT;
  readonly moves: StoredMove[];
}

export function sealedOf(stored: StoredMove): SealedMove {
  return sealMove(stored.move, hexToBytes(stored.nonce));
}

/**
 * The sealed moves of one or more members, in a local JSON file readable only by its owner (0600).
 * The move and nonce are saved before the commit is sent, so a crash after a successful commit can
 * still reveal; sealing the same game again returns the saved move (a safe retry).
 */
export class MoveStore {
  constructor(readonly path: string) {}

  async list(): Promise<StoredMove[]> {
    return (await this.load()).moves;
  }

  async get(gameId: string, memberId: string): Promise<StoredMove | undefined> {
    return (await this.load()).moves.find((m) => m.gameId === gameId && m.memberId === memberId);
  }

  /**
   * The sealed move for this game and member: the saved one if any (it must be the same move),
   * else a fresh nonce, saved before it is returned.
   */
  async seal(gameId: string, memberId: string, move: MoveName, now = new Date()): Promise<SealedMove> {
    const file = await this.load();
    const existing = file.moves.find((m) => m.gameId === gameId && m.memberId === memberId);
    if (existing) {
      if (existing.move !== move) {
        throw new LocalFileError(
          this.path,
          `a ${existing.move} move is already sealed for game ${gameId}; a commitment cannot change`,
        );
      }
      return sealedOf(existing);
    }
    const sealed = sealMove(move);
    file.moves.push({ gameId, memberId, move, nonce: bytesToHex(sealed.nonce), sealedAt: now.toISOString() });
    await this.save(file);
    return sealed;
  }

  async markRevealed(gameId: string, memberId: string, now = new Date()): Promise<void> {
    const file = await this.load();
    const index = file.moves.findIndex((m) => m.gameId === gameId && m.memberId === memberId);
    const found = file.moves[index];
    if (!found || found.revealedAt) return;
    file.moves[index] = { ...found, revealedAt: now.toISOString() };
    await this.save(file);
  }

  private async load(): Promise<MoveFile> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { format: MOVE_FILE_FORMAT, moves: [] };
      throw new LocalFileError(this.path, `cannot read ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    let data: Partial<MoveFile>;
    try {
      data = JSON.parse(text) as Partial<MoveFile>;
    } catch (error) {
      throw new LocalFileError(this.path, `${this.path} is not JSON`, { cause: error });
    }
    if (data.format !== MOVE_FILE_FORMAT || !Array.isArray(data.moves)) {
      throw new LocalFileError(this.path, `${this.path} is not a sealed-moves file (format "${MOVE_FILE_FORMAT}")`);
    }
    return { format: MOVE_FILE_FORMAT, moves: data.moves };
  }

  private async save(file: MoveFile): Promise<void> {
    await writeSecretFile(this.path, `${JSON.stringify(file, null, 2)}\n`, true);
  }
}
