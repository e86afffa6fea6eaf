/**
 * End to end, seed 004: a settlement card (card/applets/settle) certified and loaded by the
 * management centre (host/settlement), served at a settlement terminal (terminal/settlement)
 * through APDUs, the terminal's upload and service records cleared by the centre, and the
 * centre's signed lists installed by the terminal, which then refuses the listed card.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../card/crypto/index.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { CentreError } from '../../host/settlement/CentreError.js';
import { ascii, centreTerminal, centreWithCard, DAY, T0 } from './fixtureCentre.js';

describe('settlement card → terminal → upload → centre', () => {
  it('clears what the terminal served, stores the service records, and its lists reach the terminal', async () => {
    const clock = new ManualClock(T0);
    const centreId = ascii('MC1');
    // Figs. 4B/4C: the card makes its key, the centre certifies it and signs its value.
    const idu = ascii('CARD0001');
    const { centre, validity, card } = await centreWithCard({ tag: 'e2e', clock, centreId, idu });
    const reader = new VirtualReader('slot', card.os);
    let ch;

    // Fig. 4A: a terminal certified with its time-stamp chain.
    const idt = ascii('TERM01');
    const chainKey = new Uint8Array(16).fill(0x5a);
    const ts0 = new Uint8Array(16).fill(0xa5);
    const { terminal, cert } = centreTerminal(centre, validity, {
      idt,
      chain: { key: chainKey, ts0 },
      clock,
      rngSeed: 'e2e:terminal',
    });

    for (const charge of [150, 50]) {
      clock.advance(60_000);
      ch = await reader.connect();
      await terminal.serve(ch, charge);
      await ch.disconnect();
    }
    clock.advance(60_000);
    const batch = terminal.upload();
    const der = batch.upload.encode();
    // the upload goes with the card-signed service records of its records (red team 3)
    expect(centre.ingestUpload(batch, cert.encode())).toMatchObject({ stored: 2, repeated: 0, findings: [] });
    expect(centre.card(idu)).toMatchObject({ state: 'active', lastValue: 800 });
    expect(centre.reconcile(idu)).toEqual([]);
    for (const s of batch.serviceRecords) expect(centre.storeServiceRecord(s.encode())).toBe(true);
    expect(centre.billing(idu, { from: T0, to: T0 + DAY })).toEqual({
      total: 200,
      count: batch.serviceRecords.length,
    });
    // the terminal's upload presented again changes nothing
    expect(() => centre.ingestUpload(der)).toThrow(CentreError);
    expect(centre.clearedRecords()).toBe(2);

    // the card is reported lost: the centre's next list, installed by the terminal, stops it
    centre.reportCard(idu, 'lost');
    terminal.installInvalidCardList(centre.invalidCardList().encode());
    terminal.installTroubledTerminalList(centre.troubledTerminalList().encode());
    ch = await reader.connect();
    const refusal = await terminal.serve(ch, 10).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(SettlementError);
    expect((refusal as SettlementError).reason).toBe('blacklisted');
    centre.close();
  });
});
