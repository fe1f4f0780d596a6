import { sql, type Kysely } from "kysely";

/**
 * A Postgres session-level advisory lock, held on a connection of the pool reserved for it, that
 * makes one runner of a projection its leader: the lock is released when the leader stops, and by
 * the server when the leader's connection ends (a crash, a partition), so a standby takes over.
 *
 * The key is (hashtext('pot.projection'), hashtext(<schema>.<projection>)), in the two-int key
 * space, apart from the single-bigint locks openDatabase uses; the schema comes from the
 * connection's search_path, so deployments in other schemas (namespaces) never contend.
 *
 * The lock is about liveness, not safety: a leader that lost its lock without noticing yet can
 * commit at most the batch in hand, and the checkpoint's compare-and-set refuses a stale one.
 */
export class LeaderLock {
  private held: { readonly conn: Kysely<unknown>; release(): void } | undefined;
  private locked = false;

  private constructor(
    private readonly db: Kysely<unknown>,
    private readonly name: string,
  ) {}

  static create<DB>(db: Kysely<DB>, projection: string): LeaderLock {
    return new LeaderLock(db as unknown as Kysely<unknown>, projection);
  }

  get isHeld(): boolean {
    return this.locked;
  }

  /** Tries to take the lock once; true when this runner holds it. Throws when Postgres cannot be reached. */
  async tryAcquire(): Promise<boolean> {
    if (this.locked) return true;
    const { conn } = await this.connection();
    try {
      const { rows } = await sql<{ locked: boolean }>`
        select pg_try_advisory_lock(hashtext('pot.projection'), hashtext(current_schema() || '.' || ${this.name})) as locked
      `.execute(conn);
      this.locked = rows[0]?.locked === true;
      return this.locked;
    } catch (error) {
      this.drop();
      throw error;
    }
  }

  /** Checks the lock's connection; false (and the lock counted as lost) when it failed. */
  async check(): Promise<boolean> {
    if (!this.locked || !this.held) return false;
    try {
      await sql`select 1`.execute(this.held.conn);
      return true;
    } catch {
      this.drop();
      return false;
    }
  }

  /** Releases the lock (if held) and the connection. */
  async release(): Promise<void> {
    if (this.held && this.locked) {
      await sql`select pg_advisory_unlock_all()`.execute(this.held.conn).catch(() => undefined);
    }
    this.drop();
  }

  /** Gives the connection back; a lock still on it ends with it only if the connection is broken. */
  private drop(): void {
    this.locked = false;
    this.held?.release();
    this.held = undefined;
  }

  private connection(): Promise<{ conn: Kysely<unknown> }> {
    if (this.held) return Promise.resolve(this.held);
    return new Promise((resolve, reject) => {
      let release!: () => void;
      const released = new Promise<void>((done) => (release = done));
      this.db
        .connection()
        .execute(async (conn) => {
          this.held = { conn, release };
          resolve(this.held);
          await released;
        })
        .catch(reject);
    });
  }
}
