/**
 * End to end, seed 004: a settlement card (card/applets/settle) certified and loaded by the
 * management centre (host/settlement), served at a settlement terminal (terminal/settlement)
 * through APDUs, the terminal's upload and service records cleared by the centre, and the
 * centre's signed lists installed by the terminal, which then refuses the listed card.
 */
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  NodeCipherProvider,
  NodeSignatureProvider,
  SeededRng,
} from '../../card/crypto/index.js';
import { makeSettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY } from '../../card/applets/settle/constants.js';
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

describe('settlement card → terminal → upload → centre', () => {
  it('clears what the terminal served, stores the service records, and its lists reach the terminal', async () => {
    const clock = new ManualClock(T0);
    const centreId = ascii('MC1');
    const centre = new ManagementCentre({
      file: ':memory:',
      provider,
      clock,
      rng: new SeededRng('e2e:centre'),
      maxValue: 50_000,
      centreId,
      algorithm: ALG,
    });
    const validity = { notBefore: T0, notAfter: T0 + 365 * DAY };

    // Figs. 4B/4C: the card makes its key, the centre certifies it and signs its value.
    const idu = ascii('CARD0001');
    const card = makeSettlementCard({
      idu,
      anchor: centre.anchor.encode(),
      algorithm: ALG,
      rng: new SeededRng('e2e:card'),
    });
    const reader = new VirtualReader('slot', card.os);
    let ch = await reader.connect();
    await ch.transmit(A.selectSettle());
    const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certifyCard(idu, spki, validity, ALG));
    await rechargeSettlementCard(ch, centre.signValue(idu, 1000, T0 + 100 * DAY));
    await ch.disconnect();

    // Fig. 4A: a terminal certified with its time-stamp chain.
    const idt = ascii('TERM01');
    const keys = provider.generateKeyPair(ALG);
    const chainKey = new Uint8Array(16).fill(0x5a);
    const ts0 = new Uint8Array(16).fill(0xa5);
    const cert = centre.certifyTerminal(idt, keys.publicKey, { key: chainKey, ts0 }, validity, ALG);
    const terminal = new SettlementTerminal({
      idt,
      signer: provider.signer(ALG, keys.privateKey),
      certificate: cert.encode(),
      anchor: centre.anchor.encode(),
      provider,
      chainKey,
      ts0,
      cipher: new NodeCipherProvider(),
      clock,
      rng: new SeededRng('e2e:terminal'),
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
