/**
 * API keys of the host's HTTP API. A key is `mpk_` + 43 characters (32 random bytes, base64url);
 * the database keeps only its SHA-256, so a copy of the database does not let anyone in, and a key
 * is shown once, when it is made. A presented key is found by its hash (one indexed lookup: no
 * comparison loop whose timing depends on the key). Keys are random from the operating system
 * (`crypto.randomBytes`), never from the host's injected random source, which tests seed.
 */
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { diApiKeyRepository } from '../tokens.js';
import { ROLES, type Role } from './roles.js';
import type { ApiKeyRecord, ApiKeyRepository } from './db/ApiKeyRepository.js';
import { ServiceError } from './ServiceError.js';

/** What a valid key presented on a request stands for. */
export interface ApiPrincipal {
  readonly id: number;
  readonly name: string;
  readonly roles: readonly Role[];
}

/** The shortest key `adopt` accepts (a key from a file or the environment, for automation). */
export const MIN_KEY_LENGTH = 32;

const KEY_PREFIX = 'mpk_';

/** SHA-256 of the key's UTF-8 text, lower-case hex. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** @throws ServiceError 400 when `roles` is empty or names an unknown role. */
export function checkRoles(roles: readonly string[]): Role[] {
  if (roles.length === 0) throw new ServiceError(400, 'validation', 'a key needs at least one role', 'roles');
  for (const r of roles)
    if (!(ROLES as readonly string[]).includes(r))
      throw new ServiceError(400, 'validation', `unknown role '${r}' (roles: ${ROLES.join(', ')})`, 'roles');
  return [...new Set(roles)] as Role[];
}

@injectable()
export class ApiKeyService {
  constructor(@inject(diApiKeyRepository) private readonly keys: ApiKeyRepository) {}

  /**
   * Makes a new key. The returned `key` is the only copy there will ever be.
   * @throws ServiceError 400 for no or unknown roles.
   */
  create(roles: readonly string[], name = 'unnamed'): { id: number; key: string; roles: Role[] } {
    const checked = checkRoles(roles);
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const id = this.keys.insert({ name, roles: checked, keyHash: hashApiKey(key), prefix: key.slice(0, 8) });
    return { id, key, roles: checked };
  }

  /** Every key without its secret (there is none to show: only hashes are kept). */
  list(): ApiKeyRecord[] {
    return this.keys.all();
  }

  /** @throws ServiceError 404 when there is no such key or it is revoked already. */
  revoke(id: number): void {
    if (!this.keys.revoke(id))
      throw new ServiceError(404, 'unknown-key', `no API key ${id} that is not revoked`, 'id');
  }

  /** The principal of a presented key, or undefined when the key is unknown or revoked. */
  authenticate(key: string): ApiPrincipal | undefined {
    if (key.length === 0 || key.length > 256) return undefined;
    const k = this.keys.byHash(hashApiKey(key));
    if (!k || k.revokedAt !== null) return undefined;
    return {
      id: k.id,
      name: k.name,
      roles: k.roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r)),
    };
  }

  /** Is there a key with the admin role that is not revoked? */
  hasAdmin(): boolean {
    return this.keys.all().some((k) => k.revokedAt === null && k.roles.includes('admin'));
  }

  /**
   * Makes `key` (chosen by the operator, e.g. read from a file for CI) an admin key: inserted when
   * new, given the admin role when known. A revoked key stays revoked: starting a host with it
   * again is refused rather than bringing it back.
   * @throws ServiceError 400 when the key is shorter than {@link MIN_KEY_LENGTH} or holds whitespace;
   *   409 key-revoked.
   */
  adopt(key: string, name = 'admin (given)'): number {
    if (key.length < MIN_KEY_LENGTH || key.length > 256 || /\s/.test(key))
      throw new ServiceError(
        400,
        'validation',
        `an admin key must be ${MIN_KEY_LENGTH}..256 characters without whitespace`,
        'key',
      );
    const hash = hashApiKey(key);
    const known = this.keys.byHash(hash);
    if (!known) return this.keys.insert({ name, roles: ['admin'], keyHash: hash, prefix: key.slice(0, 8) });
    if (known.revokedAt !== null)
      throw new ServiceError(
        409,
        'key-revoked',
        `the given admin key is API key ${known.id}, revoked`,
        'key',
      );
    if (!known.roles.includes('admin')) this.keys.setRoles(known.id, [...known.roles, 'admin']);
    return known.id;
  }
}
