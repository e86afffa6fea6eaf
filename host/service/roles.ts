/**
 * The roles an API key may hold (docs/host.md, "Access"). Its own module: the key service checks
 * them and the route table grants them, and neither should import the other for it.
 */
/** The roles of a prepayment back office. A key holds one or more. */
export const ROLES = ['vending', 'engineer', 'auditor', 'custodian', 'admin', 'utility'] as const;
/**
 * 'utility' (issue 17): another utility's server using the relay (/relay/...). Such a key is
 * scoped to one purse (table api_key_scopes, host/relay/RelayService.ts `createUtilityKey`); a
 * 'utility' key without a scope addresses nothing.
 */
export type Role = (typeof ROLES)[number];
