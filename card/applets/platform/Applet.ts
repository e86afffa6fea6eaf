import type { CommandApdu } from '../../iso7816/CommandApdu.js';

/**
 * What an applet gives the card OS (STYLE.md rule 5: applets only handle commands).
 * `process` returns the response data or throws `SwError`; the OS turns that into SW1 SW2.
 */
export interface Applet {
  /** The AID it is selected by (ISO/IEC 7816-4 §8.2.1.2). */
  readonly aid: Uint8Array;
  /** Called on SELECT; returns the FCI (may be empty). */
  select(): Uint8Array;
  /**
   * Handles one command while selected.
   * @throws SwError for every refusal; CardPowerLostError when the store's tear hook fires.
   */
  process(command: CommandApdu): Uint8Array;
  /** Power loss, reset or deselection: forget every volatile (session) state. */
  reset(): void;
}
