/**
 * Red team 2: a hostile card (or a shim in the slot) answering the terminal's commands with
 * garbage — every answer of a genuine service, in turn, cut short, lengthened, flipped or
 * replaced by bytes that are no TLV at all. The terminal must refuse each with a SettlementError
 * (recorded in its refusals), never another exception, and keep nothing for the upload.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { Centre, ascii, issueCard, makeTerminal, newClock } from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-RT2G'), ALG);

type Garble = (d: Uint8Array) => Uint8Array;
const GARBLES: Record<string, Garble> = {
  empty: () => new Uint8Array(0),
  'first byte only': (d) => d.subarray(0, 1),
  'cut in half': (d) => d.subarray(0, d.length >> 1),
  'last byte dropped': (d) => d.subarray(0, Math.max(0, d.length - 1)),
  'a byte added': (d) => Uint8Array.of(...d, 0x00),
  'first byte flipped': (d) => Uint8Array.of((d[0] ?? 0) ^ 0xff, ...d.subarray(1)),
  'length octet 0x84 FF FF FF FF': (d) =>
    Uint8Array.of(d[0] ?? 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, ...d.subarray(2)),
  'indefinite length': (d) => Uint8Array.of(d[0] ?? 0x30, 0x80, ...d.subarray(2), 0, 0),
};

/** Replaces the data of the n-th answer (9000 kept). */
class GarblingSlot implements CardChannel {
  #i = 0;
  constructor(
    readonly inner: CardChannel,
    readonly n: number,
    readonly garble: Garble,
  ) {}
  get readerName(): string {
    return this.inner.readerName;
  }
  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get protocol(): 'T=0' | 'T=1' {
    return this.inner.protocol;
  }
  async transmit(c: CommandApdu): Promise<ResponseApdu> {
    const r = await this.inner.transmit(c);
    return this.#i++ === this.n ? new ResponseApdu(this.garble(r.data), r.sw) : r;
  }
  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

describe('red team 2, terminal: every answer of a service garbled', () => {
  it('gives a SettlementError at each, never another exception; nothing kept unless the card took it', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RT2-G', clock, ALG);
    // how many answers a service has
    const probe = await issueCard(centre, 'CARD-RT2-G', ALG, 1_000_000);
    let count = 0;
    const counting = new GarblingSlot(await probe.channel(), -1, (d) => d);
    const transmit = counting.transmit.bind(counting);
    counting.transmit = (c) => (count++, transmit(c));
    await t.terminal.serve(counting, 1);
    expect(count).toBeGreaterThanOrEqual(5);
    const outcomes = new Map<string, number>();
    for (let n = 0; n < count; n++)
      for (const [name, garble] of Object.entries(GARBLES)) {
        const c = await issueCard(centre, 'CARD-RT2-G', ALG, 1_000_000);
        const before = t.terminal.pendingRecords.length;
        const e = await t.terminal.serve(new GarblingSlot(await c.channel(), n, garble), 1).then(
          () => undefined,
          (x: unknown) => x,
        );
        if (e === undefined) {
          // a change that kept the meaning (e.g. a byte added after an FCI): a whole service
          expect(t.terminal.pendingRecords.length).toBe(before + 1);
          outcomes.set('served', (outcomes.get('served') ?? 0) + 1);
          continue;
        }
        expect(e, `answer ${n}, ${name}: ${String(e)}`).toBeInstanceOf(SettlementError);
        const reason = (e as SettlementError).reason;
        outcomes.set(reason, (outcomes.get(reason) ?? 0) + 1);
        expect(t.terminal.refusals.at(-1)?.reason).toBe(reason);
        // the last answer is UPDATE's: the card took V′, the session waits for recovery
        if (n < count - 1) expect(t.terminal.pendingRecords.length).toBe(before);
        await t.terminal.recover(await c.channel());
      }
    expect(outcomes.get('malformed')).toBeGreaterThan(0);
  });
});
