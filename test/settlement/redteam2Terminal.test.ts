/**
 * Red team 2 on the seed 004 terminal (terminal/settlement) and the card behind it: a shim in the
 * card slot re-signs nothing — it only turns the terminal's ECDSA S into the other valid signature
 * (s' = n − s) on its way to the card and cuts the answer, so the terminal's recovery of the
 * session finds a usage info whose S is not byte-equal to the one it sent.
 */
import { describe, expect, it } from 'vitest';
import type { CardChannel } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { InvalidCardList, UsageInfo } from '../../card/pki/index.js';
import { SettlementError } from '../../terminal/settlement/SettlementError.js';
import { INS_SETTLE_UPDATE_VALUE, SETTLE_OBJ_STATUS } from '../../card/applets/settle/constants.js';
import { SettleState } from '../../card/applets/settle/SettlementApplet.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { A, Centre, DAY, T0, ascii, issueCard, makeTerminal, newClock, tx } from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;
const centre = new Centre(ascii('CENTRE-RT2T'), ALG);
/** Order of the P-256 group (SEC 2 v2, §2.4.2). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

class MalleatingShim implements CardChannel {
  constructor(readonly inner: CardChannel) {}
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
    if (c.ins !== INS_SETTLE_UPDATE_VALUE) return this.inner.transmit(c);
    const u = UsageInfo.decode(c.data);
    const sig = u.valueSignature.slice();
    const s = BigInt(`0x${toHex(sig.subarray(32))}`);
    sig.set(fromHex((P256_N - s).toString(16).padStart(64, '0')), 32);
    const changed = new UsageInfo({
      cardId: u.cardId,
      terminalId: u.terminalId,
      terminalCertificate: u.terminalCertificate,
      updateCounter: u.updateCounter,
      terminalNonce: u.terminalNonce,
      cardNonce: u.cardNonce,
      value: u.value,
      valueSignature: sig,
      timeStampSignature: u.timeStampSignature,
      dateTime: u.dateTime,
    });
    const r = await this.inner.transmit(A.updateValue(changed.encode()));
    expect(r.sw).toBe(0x9000); // the card took it: the other signature is as valid
    throw new Error('reader: card removed (power lost)');
  }
  reset(): Promise<Uint8Array> {
    return this.inner.reset();
  }
  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

describe('red team 2, terminal: the card took our update under the other valid S', () => {
  it('recovery still finds the session ours and uploads it once (before the fix: abandoned, lost)', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RT2-M', clock, ALG);
    const c = await issueCard(centre, 'CARD-RT2-M', ALG, 1000);
    await expect(t.terminal.serve(new MalleatingShim(await c.channel()), 300)).rejects.toThrow('power lost');
    tx(c.card, A.selectSettle());
    expect(SettleState.decode(tx(c.card, A.readObject(SETTLE_OBJ_STATUS)).data).value).toBe(700);
    expect(t.terminal.unfinishedCount).toBe(1);
    expect(await t.terminal.recover(await c.channel())).toBe(true);
    expect(t.terminal.abandoned).toHaveLength(0);
    const out = await t.terminal.serve(await c.channel(), 50); // and the card serves on
    expect(out.valueBefore).toBe(700);
    const batch = t.terminal.upload();
    expect(batch.upload.records.map((r) => [r.valueBefore, r.valueAfter])).toEqual([
      [1000, 700],
      [700, 650],
    ]);
    expect(batch.serviceRecords.map((r) => r.charge)).toEqual([300, 50]);
  });

  it('a usage info of our session whose S does not verify is not taken for ours', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RT2-N', clock, ALG);
    const c = await issueCard(centre, 'CARD-RT2-N', ALG, 1000);
    const cutting: CardChannel = Object.assign(Object.create(MalleatingShim.prototype), {
      inner: await c.channel(),
      async transmit(this: { inner: CardChannel }, cmd: CommandApdu): Promise<ResponseApdu> {
        if (cmd.ins !== INS_SETTLE_UPDATE_VALUE) return this.inner.transmit(cmd);
        throw new Error('reader: card removed (power lost)'); // never reaches the card
      },
    });
    await expect(t.terminal.serve(cutting, 300)).rejects.toThrow('power lost');
    expect(await t.terminal.recover(await c.channel())).toBe(false);
    expect(t.terminal.abandoned).toHaveLength(1);
    expect(t.terminal.upload().upload.records).toHaveLength(0);
  });
});

describe('red team 2, terminal: a line that keeps the next list from arriving', () => {
  it('a terminal whose invalid-card list is past its term serves no card (fail closed) until a newer list', async () => {
    const clock = newClock();
    const t = makeTerminal(centre, 'TERM-RT2-L', clock, ALG);
    const c = await issueCard(centre, 'CARD-RT2-L', ALG, 1000);
    const list = (version: number, issued: number) =>
      InvalidCardList.sign(
        { centreId: centre.id, listVersion: version, issued, notAfter: issued + DAY, entries: [] },
        centre.signer,
      ).encode();
    t.terminal.installInvalidCardList(list(1, T0));
    expect((await t.terminal.serve(await c.channel(), 10)).valueAfter).toBe(990);
    clock.set(T0 + DAY); // the last second of its term
    expect((await t.terminal.serve(await c.channel(), 10)).valueAfter).toBe(980);
    clock.set(T0 + DAY + 1000);
    // before the fix: served (the list was only checked when installed)
    const e = await t.terminal.serve(await c.channel(), 10).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(SettlementError);
    expect((e as SettlementError).reason).toBe('expired');
    tx(c.card, A.selectSettle());
    expect(SettleState.decode(tx(c.card, A.readObject(SETTLE_OBJ_STATUS)).data).value).toBe(980);
    t.terminal.installInvalidCardList(list(2, T0 + DAY));
    expect((await t.terminal.serve(await c.channel(), 10)).valueAfter).toBe(970);
  });
});
