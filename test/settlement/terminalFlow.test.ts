/**
 * Seed 004 service flow end to end through APDUs (card ↔ SettlementTerminal), ECDSA P-256, and
 * each refusal of the terminal with its own reason, recorded, no value moved.
 */
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../card/crypto/rng.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import {
  UsageInfo,
  UsageUpload,
  signWith,
  terminalValueInput,
  timeStampAt,
  timeStampInput,
  verifyUsageUpload,
} from '../../card/pki/index.js';
import { SETTLE_OBJ_STATUS } from '../../card/applets/settle/constants.js';
import { SettleState } from '../../card/applets/settle/SettlementApplet.js';
import {
  A,
  Centre,
  DAY,
  T0,
  YEAR,
  ascii,
  cipher,
  issueCard,
  makeTerminal,
  newClock,
  provider,
  tx,
  type IssuedCard,
} from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;

function valueOf(c: IssuedCard): number {
  tx(c.card, A.selectSettle());
  return SettleState.decode(tx(c.card, A.readObject(SETTLE_OBJ_STATUS)).data).value;
}

async function refusal(p: Promise<unknown>): Promise<SettlementError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SettlementError);
  return e as SettlementError;
}

describe('settlement terminal (ECDSA P-256)', () => {
  const centre = new Centre(ascii('CENTRE-1'), ALG);

  it('serves a card twice: V goes 1000 → 700 → 650, service records verify, upload is signed', async () => {
    const clock = newClock();
    const a = makeTerminal(centre, 'TERM-A', clock, ALG);
    const b = makeTerminal(centre, 'TERM-B', clock, ALG);
    const c = await issueCard(centre, 'CARD-0001', ALG, 1000);
    const out1 = await a.terminal.serve(await c.channel(), 300);
    expect([out1.valueBefore, out1.valueAfter, out1.charge]).toEqual([1000, 700, 300]);
    expect(out1.serviceRecord.charge).toBe(300);
    expect(valueOf(c)).toBe(700);
    clock.advance(60_000);
    // Fig. 9: another terminal checks the previous usage information written by A.
    const out2 = await b.terminal.serve(await c.channel(), 50);
    expect([out2.valueBefore, out2.valueAfter]).toEqual([700, 650]);
    expect(valueOf(c)).toBe(650);
    const batch = b.terminal.upload();
    expect(batch.upload.records).toHaveLength(1);
    expect(batch.upload.records[0]!.previous.value).toBe(700);
    expect(Buffer.from(batch.upload.records[0]!.previous.terminalId).toString()).toBe('TERM-A');
    expect(batch.serviceRecords).toHaveLength(1);
    const again = UsageUpload.decode(batch.upload.encode());
    const verifier = provider.verifier(ALG, b.keys.publicKey);
    expect(() =>
      verifyUsageUpload(again, verifier, { terminalId: b.idt, centreId: centre.id }),
    ).not.toThrow();
    expect(b.terminal.pendingRecords).toHaveLength(0);
  });

  it('refuses a charge above V (insufficient-value), value unchanged', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-C', clock, ALG);
    const c = await issueCard(centre, 'CARD-0002', ALG, 100);
    const e = await refusal(t.terminal.serve(await c.channel(), 101));
    expect(e.reason).toBe('insufficient-value');
    expect(valueOf(c)).toBe(100);
    expect(t.terminal.refusals.map((r) => r.reason)).toEqual(['insufficient-value']);
    // Exactly V is fine (the maximum charge), one more was not.
    expect((await t.terminal.serve(await c.channel(), 100)).valueAfter).toBe(0);
  });

  it('refuses a blacklisted card (Fig. 9), a list only if newer', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-D', clock, ALG);
    const c = await issueCard(centre, 'CARD-0003', ALG, 500);
    const list = centre.invalidCards(2, [{ cardId: c.idu, reason: 'cloned', listedAt: T0 - DAY }]);
    t.terminal.installInvalidCardList(list.encode());
    const e = await refusal(t.terminal.serve(await c.channel(), 10));
    expect(e.reason).toBe('blacklisted');
    expect(valueOf(c)).toBe(500);
    // An older (or the same) list version is refused, the held one stays.
    expect(() => t.terminal.installInvalidCardList(centre.invalidCards(2, []).encode())).toThrow(
      expect.objectContaining({ reason: 'list-version' }),
    );
    expect(t.terminal.invalidCardListVersion).toBe(2);
    // A list signed by another centre is refused.
    const other = new Centre(ascii('CENTRE-X'), ALG);
    expect(() => t.terminal.installInvalidCardList(other.invalidCards(9, []).encode())).toThrow(
      expect.objectContaining({ reason: 'other-centre' }),
    );
  });

  it('a card of another centre, and a card with an expired certificate, are refused', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-E', clock, ALG);
    const other = new Centre(ascii('CENTRE-2'), ALG);
    const foreign = await issueCard(other, 'CARD-0004', ALG, 500);
    expect((await refusal(t.terminal.serve(await foreign.channel(), 10))).reason).toBe('other-centre');
    const c = await issueCard(centre, 'CARD-0005', ALG, 500);
    clock.set(T0 + 3 * YEAR); // card certificate notAfter is T0 + 2 years
    const keys = provider.generateKeyPair(ALG);
    const longCert = centre.certify('terminal', ascii('TERM-E2'), keys.publicKey, ALG, T0, T0 + 5 * YEAR);
    const t2 = makeTerminal(centre, 'TERM-E2', clock, ALG, keys, longCert);
    expect((await refusal(t2.terminal.serve(await c.channel(), 10))).reason).toBe('expired');
    expect(valueOf(c)).toBe(500);
  });

  it('stolen terminal (Fig. 12): served before the report is accepted, after the report refused', async () => {
    const clock = newClock();
    const stolen = makeTerminal(centre, 'TERM-S', clock, ALG);
    const honest = makeTerminal(centre, 'TERM-H', clock, ALG);
    const before = await issueCard(centre, 'CARD-0006', ALG, 1000);
    const after = await issueCard(centre, 'CARD-0007', ALG, 1000);
    stolen.terminal.updateTimeStamp();
    stolen.terminal.updateTimeStamp(); // t = 2
    await stolen.terminal.serve(await before.channel(), 100); // served at t = 2
    // The centre learns of the theft when the terminal had t = 2; the thief goes on (t = 3).
    honest.terminal.installTroubledTerminalList(
      centre
        .troubledTerminals(1, [
          {
            terminalId: stolen.idt,
            chainKey: stolen.chainKey,
            timeStampOrigin: stolen.ts0,
            updateCounterAtReport: 2,
            reportedAt: T0,
          },
        ])
        .encode(),
    );
    stolen.terminal.updateTimeStamp();
    await stolen.terminal.serve(await after.channel(), 100); // served at t = 3 > 2
    expect((await honest.terminal.serve(await before.channel(), 10)).valueAfter).toBe(890);
    const e = await refusal(honest.terminal.serve(await after.channel(), 10));
    expect(e.reason).toBe('stolen-terminal');
    expect(valueOf(after)).toBe(900);
  });

  it('a thief claiming an earlier t than the one he can sign fails the time-stamp check (bad-time-stamp)', async () => {
    const clock = newClock();
    const stolen = makeTerminal(centre, 'TERM-T', clock, ALG);
    const honest = makeTerminal(centre, 'TERM-U', clock, ALG);
    const c = await issueCard(centre, 'CARD-0008', ALG, 1000);
    // The thief holds K and TS_5 (t = 5), reported at t = 4: he writes usage claiming t = 3, but
    // can sign only TS_5 (TS_3 is before TS_5 on a one-way chain).
    const ts5 = timeStampAt(cipher, stolen.chainKey, stolen.ts0, 5);
    const signer = provider.signer(ALG, stolen.keys.privateKey);
    tx(c.card, A.selectSettle());
    expect(tx(c.card, A.presentTerminal(T0, stolen.certificate.encode())).sw).toBe(0x9000);
    const r = new Uint8Array(16).fill(7);
    const d = tx(c.card, A.signValue(r)).data;
    const binding = { cardId: c.idu, terminalId: stolen.idt, terminalNonce: r, cardNonce: d.slice(0, 16) };
    const s = signWith(signer, terminalValueInput({ ...binding, value: 900, dateTime: T0 }));
    const sts = signWith(
      signer,
      timeStampInput({ terminalId: stolen.idt, updateCounter: 5, timeStamp: ts5, valueSignature: s }),
    );
    const forged = new UsageInfo({
      ...binding,
      terminalCertificate: stolen.certificate,
      updateCounter: 3,
      value: 900,
      valueSignature: s,
      timeStampSignature: sts,
      dateTime: T0,
    });
    expect(tx(c.card, A.updateValue(forged.encode())).sw).toBe(0x9000); // the card cannot know TS
    honest.terminal.installTroubledTerminalList(
      centre
        .troubledTerminals(1, [
          {
            terminalId: stolen.idt,
            chainKey: stolen.chainKey,
            timeStampOrigin: stolen.ts0,
            updateCounterAtReport: 4,
            reportedAt: T0,
          },
        ])
        .encode(),
    );
    expect((await refusal(honest.terminal.serve(await c.channel(), 10))).reason).toBe('bad-time-stamp');
    expect(valueOf(c)).toBe(900);
  });

  it('a card that disabled itself (V′ > V offered by an altered terminal) is refused as card-disabled', async () => {
    const clock = newClock();
    const rogue = makeTerminal(centre, 'TERM-W', clock, ALG);
    const honest = makeTerminal(centre, 'TERM-Z', clock, ALG);
    const c = await issueCard(centre, 'CARD-0013', ALG, 100);
    const signer = provider.signer(ALG, rogue.keys.privateKey);
    tx(c.card, A.selectSettle());
    tx(c.card, A.presentTerminal(T0, rogue.certificate.encode()));
    const r = new Uint8Array(16).fill(9);
    const d = tx(c.card, A.signValue(r)).data;
    const binding = { cardId: c.idu, terminalId: rogue.idt, terminalNonce: r, cardNonce: d.slice(0, 16) };
    const s = signWith(signer, terminalValueInput({ ...binding, value: 100_000, dateTime: T0 }));
    const raised = new UsageInfo({
      ...binding,
      terminalCertificate: rogue.certificate,
      updateCounter: 0,
      value: 100_000,
      valueSignature: s,
      timeStampSignature: s,
      dateTime: T0,
    });
    expect(tx(c.card, A.updateValue(raised.encode())).sw).toBe(0x9416);
    expect((await refusal(honest.terminal.serve(await c.channel(), 10))).reason).toBe('card-disabled');
    expect(valueOf(c)).toBe(100);
  });

  it('a signed value past its term (the card’s term of validity) is refused', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-V', clock, ALG);
    const c = await issueCard(centre, 'CARD-0011', ALG, 0);
    const { rechargeSettlementCard } = await import('../../terminal/settlement/SettlementTerminal.js');
    await rechargeSettlementCard(await c.channel(), centre.value(c.idu, 500, 1, T0 + DAY));
    clock.advance(2 * DAY);
    expect((await refusal(t.terminal.serve(await c.channel(), 10))).reason).toBe('expired');
    // A card never issued a value holds none.
    const empty = await issueCard(centre, 'CARD-0012', ALG, 0);
    expect((await refusal(t.terminal.serve(await empty.channel(), 0))).reason).toBe('no-value');
  });

  it('password: registration with the centre setting, then three wrong tries block the card', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-P', clock, ALG);
    const c = await issueCard(centre, 'CARD-0009', ALG, 1000);
    const { installPasswordSetting } = await import('../../terminal/settlement/SettlementTerminal.js');
    await installPasswordSetting(await c.channel(), centre.setting(c.idu, '73920461'));
    // A wrong setting number costs one of its three tries.
    const w = await refusal(t.terminal.registerPassword(await c.channel(), '00000000', '4321'));
    expect([w.reason, w.sw]).toEqual(['wrong-password', 0x63c2]);
    await t.terminal.registerPassword(await c.channel(), '73920461', '4321');
    // Without the password no service; with it, service.
    expect((await refusal(t.terminal.serve(await c.channel(), 10))).reason).toBe('password-required');
    expect((await t.terminal.serve(await c.channel(), 10, { password: '4321' })).valueAfter).toBe(990);
    const tries: number[] = [];
    for (let i = 0; i < 3; i++) {
      const e = await refusal(t.terminal.serve(await c.channel(), 10, { password: '1111' }));
      tries.push(e.sw!);
    }
    expect(tries).toEqual([0x63c2, 0x63c1, 0x6983]);
    // Blocked: even the right password is refused now, and no value moved.
    expect((await refusal(t.terminal.serve(await c.channel(), 10, { password: '4321' }))).reason).toBe(
      'password-blocked',
    );
    expect(valueOf(c)).toBe(990);
    // The used setting cannot register again (a fresh one from the centre is needed).
    const again = await refusal(t.terminal.registerPassword(await c.channel(), '73920461', '9999'));
    expect(again.sw).toBe(0x6a88);
  });

  it('reproducible: the same seeds give the same card keys and the same service bytes', async () => {
    const run = async (): Promise<string> => {
      const clock = newClock();
      const t = makeTerminal(centre, 'TERM-R', clock, ALG, makeTerminalKeys);
      const c = await issueCard(centre, 'CARD-0010', ALG, 1000);
      const out = await t.terminal.serve(await c.channel(), 5);
      return (
        Buffer.from(c.certificate.subjectPublicKey).toString('hex') +
        Buffer.from(out.usageInfo.cardNonce).toString('hex')
      );
    };
    expect(await run()).toBe(await run());
  });
});

const makeTerminalKeys = provider.generateKeyPair(ALG);
void SeededRng;
