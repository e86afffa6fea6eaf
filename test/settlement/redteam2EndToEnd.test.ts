/**
 * Red team 2, end to end (card → terminal → upload → management centre): the holder of a genuine
 * card saves its whole EEPROM image before a service and puts it back afterwards (the store
 * rolled back: V, usage info and service counter as before), then spends the same value again at
 * another terminal. Offline nothing can tell; the centre must, and its next list must stop the card.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, SeededRng } from '../../card/crypto/index.js';
import { rebuildSettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { toHex } from '../../card/util/hex.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { CentreError } from '../../host/settlement/CentreError.js';
import { ALG, ascii, centreTerminal, centreWithCard, DAY, T0 } from './fixtureCentre.js';

describe('red team 2, end to end: the card store rolled back after a service', () => {
  it('is spent twice offline, then found by the centre (clone, both ways), listed, and refused', async () => {
    const clock = new ManualClock(T0);
    const idu = ascii('CARD-RT2-E2E');
    const { centre, validity, card } = await centreWithCard({
      tag: 'rt2e2e',
      clock,
      centreId: ascii('MC-RT2'),
      idu,
    });
    const cfg = { idu: toHex(idu), anchor: toHex(centre.anchor.encode()), algorithm: ALG } as const;

    const terminal = (name: string, fill: number) =>
      centreTerminal(centre, validity, {
        idt: ascii(name),
        chain: { key: new Uint8Array(16).fill(fill), ts0: new Uint8Array(16).fill(fill + 1) },
        clock,
        rngSeed: `rt2e2e:${name}`,
      }).terminal;
    const t1 = terminal('TERM-A', 0x11);
    const t2 = terminal('TERM-B', 0x22);

    const saved = card.os.store.image(); // the attacker's copy of the EEPROM
    clock.advance(60_000);
    expect((await t1.serve(await new VirtualReader('a', card.os).connect(), 300)).valueAfter).toBe(700);
    // the image put back (a second chip with it is the same attack)
    const rolled = rebuildSettlementCard(cfg, saved, new SeededRng('rt2e2e:rolled'));
    clock.advance(60_000);
    const again = await t2.serve(await new VirtualReader('b', rolled.os).connect(), 400);
    expect([again.valueBefore, again.valueAfter]).toEqual([1000, 600]); // offline: accepted

    const b1 = t1.upload();
    const b2 = t2.upload();
    expect(centre.ingestUpload(b1).findings).toEqual([]);
    const report = centre.ingestUpload(b2);
    expect(report.findings.map((f) => f.reason)).toEqual(['clone']);
    expect(centre.card(idu)).toMatchObject({ state: 'invalid', invalidReason: 'clone' });
    // the two card-signed service records carry the same card sequence: the clone again
    expect(b1.serviceRecords[0]!.cardSequence).toBe(b2.serviceRecords[0]!.cardSequence);
    expect(centre.storeServiceRecord(b1.serviceRecords[0]!.encode())).toBe(true);
    expect(() => centre.storeServiceRecord(b2.serviceRecords[0]!.encode())).toThrow(CentreError);
    expect(centre.billing(idu, { from: T0, to: T0 + DAY })).toEqual({ total: 300, count: 1 });
    // no refund can be had for it, and no recharge
    expect(() => centre.destroyedCard(idu)).toThrow(/clone/);
    expect(() => centre.signValue(idu, 10, T0 + 100 * DAY)).toThrow(CentreError);

    // the next list reaches the terminals: both images are refused
    const list = centre.invalidCardList().encode();
    for (const [t, os] of [
      [t1, card.os],
      [t2, rolled.os],
    ] as const) {
      t.installInvalidCardList(list);
      const e = await t.serve(await new VirtualReader('c', os).connect(), 1).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(SettlementError);
      expect((e as SettlementError).reason).toBe('blacklisted');
    }
    centre.close();
  });
});
