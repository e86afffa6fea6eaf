/**
 * The demo's event lines, with runs of one repeated event told once. A year of a household that
 * bought no more credit opens its relay every morning: 350 lines of "credit exhausted" say less
 * than the first one and a line that counts the rest and says when they happened.
 *
 * An event is repeated when its text (without the time) is the same as the one before it and no
 * other line came between. The first of a run is said when it happens; the rest are counted and
 * said as one line when the run ends (another event, another line, or `flush()`):
 *
 *   2026-11-18 15:10:00 credit exhausted: relay open
 *   2026-11-19 07:00:00 … 2027-11-02 07:00:00 credit exhausted: relay open — 349 more times, every day at 07:00 (why)
 */
import { DAY_SECONDS, RtcTime } from '../../protocol/index.js';

export class EventRuns {
  readonly #say: (line: string) => void;
  #text: string | undefined;
  #why: ((first: number, last: number, daily: string | undefined) => string) | undefined;
  #repeats: number[] = [];

  constructor(say: (line: string) => void) {
    this.#say = say;
  }

  /**
   * Says `text` at time `t` (RTC seconds), or counts it when it repeats the event before.
   * @param why explains a run of repeats ("" for none); given the run's first and last time and
   * the time of day when every repeat came one day after the one before ("07:00"), else undefined.
   */
  event(
    t: number,
    text: string,
    why?: (first: number, last: number, daily: string | undefined) => string,
  ): void {
    if (text === this.#text) {
      this.#repeats.push(t);
      return;
    }
    this.flush();
    this.#say(`${RtcTime.fromSeconds(t).toDisplay()} ${text}`);
    this.#text = text;
    this.#why = why;
  }

  /** Says a line that is not an event; it ends any run. */
  line(text: string): void {
    this.flush();
    this.#say(text);
  }

  /** Ends the current run: says how often it repeated, if it did. */
  flush(): void {
    const r = this.#repeats;
    if (r.length > 0) {
      const first = r[0]!;
      const last = r[r.length - 1]!;
      const daily = r.every((t, i) => i === 0 || t - r[i - 1]! === DAY_SECONDS)
        ? RtcTime.fromSeconds(first).toDisplay().slice(11, 16)
        : undefined;
      const range =
        r.length === 1
          ? RtcTime.fromSeconds(first).toDisplay()
          : `${RtcTime.fromSeconds(first).toDisplay()} … ${RtcTime.fromSeconds(last).toDisplay()}`;
      const how =
        r.length === 1 ? 'once more' : `${r.length} more times${daily ? `, every day at ${daily}` : ''}`;
      const why = this.#why?.(first, last, daily) ?? '';
      this.#say(`${range} ${this.#text!} — ${how}${why ? ` (${why})` : ''}`);
    }
    this.#text = undefined;
    this.#why = undefined;
    this.#repeats = [];
  }
}
