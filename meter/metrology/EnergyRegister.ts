/** Milli-joules in one milliwatt-hour. */
export const MJ_PER_MWH = 3600;

/**
 * An integer energy register: takes integer milli-joules (mW·s), counts whole mWh and carries
 * the remainder below 1 mWh to the next addition, so no energy is ever dropped. Import (positive)
 * and export (negative, reverse flow) are kept apart; export is never netted against import.
 */
export class EnergyRegister {
  #importMWh = 0;
  #importRest = 0;
  #exportMWh = 0;
  #exportRest = 0;

  /** Adds a signed amount of milli-joules. @throws RangeError unless a safe integer. */
  addMilliJoules(mJ: number): void {
    if (!Number.isSafeInteger(mJ)) throw new RangeError(`mJ must be a safe integer, got ${mJ}`);
    if (mJ >= 0) {
      const t = this.#importRest + mJ;
      const whole = Math.floor(t / MJ_PER_MWH);
      this.#importMWh += whole;
      this.#importRest = t - whole * MJ_PER_MWH;
    } else {
      const t = this.#exportRest - mJ;
      const whole = Math.floor(t / MJ_PER_MWH);
      this.#exportMWh += whole;
      this.#exportRest = t - whole * MJ_PER_MWH;
    }
  }

  /** Imported energy, whole mWh. */
  get importMWh(): number {
    return this.#importMWh;
  }
  /** Imported energy below one mWh, in mJ (0…3599). */
  get importRemainderMJ(): number {
    return this.#importRest;
  }
  /** Imported energy, whole Wh. */
  get importWh(): number {
    return Math.floor(this.#importMWh / 1000);
  }
  /** Exported (reverse) energy, whole mWh. */
  get exportMWh(): number {
    return this.#exportMWh;
  }

  /** Takes the whole mWh imported so far (for the token exchanger), keeping the remainder. */
  takeImportMWh(): number {
    const v = this.#importMWh;
    this.#importMWh = 0;
    return v;
  }

  /** Takes the whole mWh exported so far (for the meter's reverse register), keeping the remainder. */
  takeExportMWh(): number {
    const v = this.#exportMWh;
    this.#exportMWh = 0;
    return v;
  }
}
