/**
 * What a reader needs from a simulated chip (STYLE.md rule 5): power, reset, and a byte-level
 * `transmit`. `transmit` never throws for anything a reader sends: every command, however
 * malformed, gets a response ending in a status word. It may throw `CardPowerLostError` when a
 * simulated tear cuts the power mid-command.
 */
export interface CardOs {
  /** The ATR the card answers with at power-up / reset. */
  readonly atr: Uint8Array;
  /** True between powerUp() and powerDown(). */
  readonly powered: boolean;
  /** Cold reset: powers the card up (recovering any torn transaction) and returns the ATR. */
  powerUp(): Uint8Array;
  /** Warm reset: clears volatile state (selections, security status, channels) and returns the ATR. */
  reset(): Uint8Array;
  /** Removes power: volatile state is lost, persistent state stays. */
  powerDown(): void;
  /** Executes one command APDU (raw bytes) and returns the response (data + SW1 SW2). */
  transmit(command: Uint8Array): Uint8Array;
}

/** Thrown by a card whose power was cut during a command (tear simulation); the reader sees no response. */
export class CardPowerLostError extends Error {
  override readonly name = 'CardPowerLostError';
}
