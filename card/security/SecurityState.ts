import type { SecurityView } from './AccessCondition.js';
import type { SmSession } from './SecureMessaging.js';

/**
 * Volatile security status of one logical channel (ISO/IEC 7816-4 §5.4.1: each channel has its
 * own security status): verified PINs, authenticated keys, the last challenge handed out, and
 * the secure-messaging session. Cleared on reset, power-down and channel close.
 */
export class SecurityState implements SecurityView {
  readonly verifiedPins = new Set<number>();
  readonly authenticatedKeys = new Set<number>();
  /** The last GET CHALLENGE answer, consumed by the next authentication. */
  challenge: Uint8Array | undefined;
  /** Session keys and send sequence counter once secure messaging is established. */
  sm: SmSession | undefined;
  /** Set by the OS for the duration of one command that came with a verified SM MAC. */
  secureMessaging = false;

  isPinVerified(ref: number): boolean {
    return this.verifiedPins.has(ref);
  }

  isKeyAuthenticated(ref: number): boolean {
    return this.authenticatedKeys.has(ref);
  }

  clear(): void {
    this.verifiedPins.clear();
    this.authenticatedKeys.clear();
    this.challenge = undefined;
    this.sm?.close();
    this.sm = undefined;
    this.secureMessaging = false;
  }
}
