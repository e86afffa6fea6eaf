/** Why the supply is off. */
export type OffReason = 'credit' | 'manual';

/**
 * The latch relay of an electricity meter (seed 000 Fig. 5 item 1) or the valve of a gas, water
 * or heat meter (seed 000, offline meters). A latch relay keeps its position without power, so
 * the state survives a power failure. `connected` = supply flows (relay closed, valve open).
 */
export class SupplySwitch {
  #connected = true;
  #reason: OffReason | undefined;
  #operations = 0;

  constructor(readonly kind: 'relay' | 'valve') {
    if (kind !== 'relay' && kind !== 'valve')
      throw new RangeError(`kind must be 'relay' or 'valve', got ${String(kind)}`);
  }

  get connected(): boolean {
    return this.#connected;
  }
  /** Why it is off; undefined while connected. */
  get reason(): OffReason | undefined {
    return this.#reason;
  }
  /** Number of times it moved. */
  get operations(): number {
    return this.#operations;
  }

  /** Cuts the supply; returns true when it moved. */
  disconnect(reason: OffReason): boolean {
    if (!this.#connected) return false;
    this.#connected = false;
    this.#reason = reason;
    this.#operations++;
    return true;
  }

  /** Restores the supply; returns true when it moved. */
  connect(): boolean {
    if (this.#connected) return false;
    this.#connected = true;
    this.#reason = undefined;
    this.#operations++;
    return true;
  }

  /** Position, reason and operation count (part of `Meter.snapshot`). */
  saveState(): { connected: boolean; reason: OffReason | null; operations: number } {
    return { connected: this.#connected, reason: this.#reason ?? null, operations: this.#operations };
  }

  /** @throws RangeError when the state is inconsistent. */
  loadState(s: { connected: boolean; reason: OffReason | null; operations: number }): void {
    if (typeof s.connected !== 'boolean') throw new RangeError('snapshot.supply.connected must be a boolean');
    if (s.connected ? s.reason !== null : s.reason !== 'credit' && s.reason !== 'manual')
      throw new RangeError('snapshot.supply.reason must be null when connected, credit or manual when not');
    if (!Number.isSafeInteger(s.operations) || s.operations < 0)
      throw new RangeError('snapshot.supply.operations must be a non-negative integer');
    this.#connected = s.connected;
    this.#reason = s.reason ?? undefined;
    this.#operations = s.operations;
  }

  /** "relay closed", "valve open"… as a display word. */
  describe(): string {
    if (this.kind === 'relay') return this.#connected ? 'relay closed' : 'relay OPEN';
    return this.#connected ? 'valve open' : 'valve CLOSED';
  }
}
