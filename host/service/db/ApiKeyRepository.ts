import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { diHostDb } from '../../tokens.js';
import type { HostDb } from '../HostDb.js';

/** One API key as stored: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  readonly id: number;
  readonly name: string;
  /** Role names as stored (ApiKeyService checks them). */
  readonly roles: readonly string[];
  /** The first characters of the key, to tell keys apart in a listing. */
  readonly prefix: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

interface ApiKeyRow {
  id: number;
  name: string;
  roles: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

const toRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  roles: r.roles.split(',').filter((s) => s.length > 0),
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** The `api_keys` table. */
@injectable()
export class ApiKeyRepository {
  constructor(@inject(diHostDb) private readonly db: HostDb) {}

  /** Inserts a key by its hash (in its own transaction). @returns the new id. */
  insert(k: { name: string; roles: readonly string[]; keyHash: string; prefix: string }): number {
    const r = this.db.tx(() =>
      this.db
        .statement('INSERT INTO api_keys (name, roles, key_hash, prefix) VALUES (?, ?, ?, ?)')
        .run(k.name, k.roles.join(','), k.keyHash, k.prefix),
    );
    return Number(r.lastInsertRowid);
  }

  /** The key with this hash, revoked or not. */
  byHash(keyHash: string): ApiKeyRecord | undefined {
    const r = this.db
      .statement('SELECT id, name, roles, prefix, created_at, revoked_at FROM api_keys WHERE key_hash = ?')
      .get(keyHash) as ApiKeyRow | undefined;
    return r && toRecord(r);
  }

  /** Every key, oldest first. */
  all(): ApiKeyRecord[] {
    return (
      this.db
        .statement('SELECT id, name, roles, prefix, created_at, revoked_at FROM api_keys ORDER BY id')
        .all() as ApiKeyRow[]
    ).map(toRecord);
  }

  /** Replaces the roles of a key (in its own transaction). */
  setRoles(id: number, roles: readonly string[]): void {
    this.db.tx(() =>
      this.db.statement('UPDATE api_keys SET roles = ? WHERE id = ?').run(roles.join(','), id),
    );
  }

  /** Revokes a key. @returns false when there is no such key or it was revoked already. */
  revoke(id: number): boolean {
    const r = this.db.tx(() =>
      this.db
        .statement(
          "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ? AND revoked_at IS NULL",
        )
        .run(id),
    );
    return r.changes > 0;
  }
}
