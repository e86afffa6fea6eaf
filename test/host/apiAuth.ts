/**
 * Authentication for API tests: `withKey(svc, roles)` makes an API key in the host's database and
 * answers the headers that carry it, for `app.inject({ headers })` or `fetch(url, { headers })`.
 */
import type { HostService } from '../../host/service/HostService.js';
import type { Role } from '../../host/service/access.js';

/** The `Authorization` header of a key. */
export function bearer(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` };
}

/** A new key with `roles` (default admin) in `svc`'s database, as request headers. */
export function withKey(
  svc: HostService,
  roles: readonly Role[] = ['admin'],
  name = `test ${roles.join('+')}`,
): { authorization: string } {
  return bearer(svc.apiKeys.create(roles, name).key);
}

/** An admin key a test passes to `host serve --admin-key-file` (or MP_HOST_ADMIN_KEY). */
export const TEST_ADMIN_KEY = 'mpk_test-admin-key-0123456789abcdefghijklmnop';
