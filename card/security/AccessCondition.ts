/**
 * Access conditions of the file system and the applets (ISO/IEC 7816-4 §7.4.3, §9: security
 * attributes; expressed here in a compact JSON form rather than as SE/ARR references).
 *
 * ```
 *  'always'            no condition
 *  'never'             the operation is refused whatever the state (6982)
 *  'sm'                the command itself came with a valid secure-messaging MAC
 *  { pin: 0x81 }       PIN with reference 81 verified on this channel
 *  { key: 0x01 }       key 01 authenticated (EXTERNAL/MUTUAL AUTHENTICATE) on this channel
 *  { all: [ ... ] }    every condition (AND)
 *  { any: [ ... ] }    at least one (OR)
 * ```
 */
export type AccessRule =
  | 'always'
  | 'never'
  | 'sm'
  | { pin: number }
  | { key: number }
  | { all: AccessRule[] }
  | { any: AccessRule[] };

/** What a rule is evaluated against: one channel's security state while one command runs. */
export interface SecurityView {
  isPinVerified(ref: number): boolean;
  isKeyAuthenticated(ref: number): boolean;
  /** True while the current command was received with a verified secure-messaging MAC. */
  readonly secureMessaging: boolean;
}

const MAX_DEPTH = 8;

/** Evaluates a rule (ISO/IEC 7816-4 §9.3 "security status satisfied"). */
export function isSatisfied(rule: AccessRule, state: SecurityView): boolean {
  if (rule === 'always') return true;
  if (rule === 'never') return false;
  if (rule === 'sm') return state.secureMessaging;
  if ('pin' in rule) return state.isPinVerified(rule.pin);
  if ('key' in rule) return state.isKeyAuthenticated(rule.key);
  if ('all' in rule) return rule.all.every((r) => isSatisfied(r, state));
  return rule.any.some((r) => isSatisfied(r, state));
}

/**
 * Checks the JSON form of a rule (from a profile or a card file).
 * @throws TypeError naming `where` when the value is not a rule.
 */
export function parseAccessRule(value: unknown, where: string, depth = 0): AccessRule {
  if (depth > MAX_DEPTH) throw new TypeError(`${where}: access rule nested deeper than ${MAX_DEPTH}`);
  if (value === 'always' || value === 'never' || value === 'sm') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (keys[0] === 'pin' || keys[0] === 'key') {
        const ref = o[keys[0]];
        if (typeof ref === 'number' && Number.isInteger(ref) && ref >= 0 && ref <= 255)
          return keys[0] === 'pin' ? { pin: ref } : { key: ref };
      }
      if ((keys[0] === 'all' || keys[0] === 'any') && Array.isArray(o[keys[0]])) {
        const list = (o[keys[0]] as unknown[]).map((r, i) =>
          parseAccessRule(r, `${where}.${keys[0]}[${i}]`, depth + 1),
        );
        return keys[0] === 'all' ? { all: list } : { any: list };
      }
    }
  }
  throw new TypeError(`${where}: not an access rule: ${JSON.stringify(value)}`);
}
