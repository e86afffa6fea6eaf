/**
 * The roles an API key may hold (docs/host.md, "Access"). Its own module: the key service checks
 * them and the route table grants them, and neither should import the other for it.
 */
/** The roles of a prepayment back office. A key holds one or more. */
export const ROLES = ['vending', 'engineer', 'auditor', 'custodian', 'admin'] as const;
export type Role = (typeof ROLES)[number];
