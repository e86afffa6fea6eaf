/**
 * Red team 2, end to end (card → terminal → upload → management centre): the holder of a genuine
 * card saves its whole EEPROM image before a service and puts it back afterwards (the store
 * rolled back: V, usage info and service counter as before), then spends the same value again at
 * another terminal. Offline nothing can tell; the centre must, and its next list must stop the card.
 */
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  NodeCipherProvider,
  NodeSignatureProvider,
  SeededRng,
} from '../../card/crypto/index.js';
import { makeSettlementCard, rebuildSettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY } from '../../card/applets/settle/constants.js';
import { toHex } from '../../card/util/hex.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import * as A from '../../terminal/settlement/apdus.js';
import {
  SettlementTerminal,
  certifySettlementCard,
  rechargeSettlementCard,
} from '../../terminal/settlement/SettlementTerminal.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { ManagementCentre } from '../../host/settlement/ManagementCentre.js';
import { CentreError } from '../../host/settlement/CentreError.js';

const provider = new NodeSignatureProvider();
const ALG = 'ecdsa-p256-sha256' as const;
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const ascii = (s: string) => new TextEncoder().encode(s);

describe('red team 2, end to end: the card store rolled back after a service', () => {
  it('is spent twice offline, then found by the centre (clone, both ways), listed, and refused', async () => {
    const clock = new ManualClock(T0);
    const centre = new ManagementCentre({
      file: ':memory:',
      provider,
      clock,
      rng: new SeededRng('rt2e2e:centre'),
      maxValue: 50_000,
      centreId: ascii('MC-RT2'),
      algorithm: ALG,
    });
    const validity = { notBefore: T0, notAfter: T0 + 365 * DAY };
    const idu = ascii('CARD-RT2-E2E');
    const cfg = { idu: toHex(idu), anchor: toHex(centre.anchor.encode()), algorithm: ALG } as const;
    const card = makeSettlementCard({
      idu,
      anchor: centre.anchor.encode(),
      algorithm: ALG,
      rng: new SeededRng('rt2e2e:card'),
    });
    const ch = await new VirtualReader('slot', card.os).connect();
    await ch.transmit(A.selectSettle());
    const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certifyCard(idu, spki, validity, ALG));
    await rechargeSettlementCard(ch, centre.signValue(idu, 1000, T0 + 100 * DAY));
    await ch.disconnect();

    const terminal = (name: string, fill: number) => {
      const idt = ascii(name);
      const keys = provider.generateKeyPair(ALG);
      const chain = { key: new Uint8Array(16).fill(fill), ts0: new Uint8Array(16).fill(fill + 1) };
      const cert = centre.certifyTerminal(idt, keys.publicKey, chain, validity, ALG);
      return new SettlementTerminal({
        idt,
        signer: provider.signer(ALG, keys.privateKey),
        certificate: cert.encode(),
        anchor: centre.anchor.encode(),
        provider,
        chainKey: chain.key,
        ts0: chain.ts0,
        cipher: new NodeCipherProvider(),
        clock,
        rng: new SeededRng(`rt2e2e:${name}`),
      });
    };
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
