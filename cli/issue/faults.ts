/**
 * Fault injection for the exactly-once tests of `card issue` (never for production use): the
 * environment variable MP_FAULT_KILL_AT names points where the process kills itself with SIGKILL
 * — a kill -9 at a place a test chooses. Only the issue command reads it.
 *
 * `MP_FAULT_KILL_AT=<point>[,<point>...]`, each point `row:<n>:<where>`, n the 1-based position of
 * the row among the batch's good rows, where one of:
 *
 * | where | the process dies |
 * |---|---|
 * | `after-allocate` | after the row's CSN is journalled, before any card is touched |
 * | `apdu:<k>` | inside the personalisation, just before the k-th APDU to the chip (k from 1) |
 * | `after-mkc-save` | after the MKC file recorded the personalisation, before the card is written |
 * | `after-card-write` | after the card exists (file written), before the journal says so |
 * | `after-personalise` | after the journal says `personalised`, before registration |
 * | `after-register-request` | after the host answered, before the journal says `registered` |
 * | `done` | after the row is complete (a row boundary) |
 */
export const FAULT_ENV = 'MP_FAULT_KILL_AT';

export type FaultPoint =
  | 'after-allocate'
  | 'after-mkc-save'
  | 'after-card-write'
  | 'after-personalise'
  | 'after-register-request'
  | 'done';

const POINTS: readonly string[] = [
  'after-allocate',
  'after-mkc-save',
  'after-card-write',
  'after-personalise',
  'after-register-request',
  'done',
];

export class FaultPlan {
  readonly #points: Set<string>;
  readonly #kill: () => void;

  /**
   * @param spec the variable's value (undefined: no faults).
   * @throws RangeError for a point that is not one of the table's.
   */
  constructor(spec: string | undefined, kill: () => void = () => process.kill(process.pid, 'SIGKILL')) {
    this.#kill = kill;
    this.#points = new Set(
      (spec ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
    for (const p of this.#points) {
      const m = /^row:[1-9][0-9]*:(.+)$/.exec(p);
      if (!m || !(POINTS.includes(m[1]!) || /^apdu:[1-9][0-9]*$/.test(m[1]!)))
        throw new RangeError(`${FAULT_ENV}: '${p}' is not row:<n>:<${POINTS.join('|')}|apdu:<k>>`);
    }
  }

  get active(): boolean {
    return this.#points.size > 0;
  }

  /** Dies here if the plan says so. */
  at(row: number, where: FaultPoint): void {
    if (this.#points.has(`row:${row}:${where}`)) this.#kill();
  }

  /** Dies before the k-th APDU to the chip of row `row`, if the plan says so. */
  apdu(row: number, k: number): void {
    if (this.#points.has(`row:${row}:apdu:${k}`)) this.#kill();
  }
}
