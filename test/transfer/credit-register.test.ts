import { describe, expect, it } from 'vitest';
import type { CreditRegister } from '../../meter/CreditRegister.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import { SvmCreditRegister } from '../../terminal/SvmCreditRegister.js';
import { World } from './world.js';

/** An SVM channel that loses the answer of the next TOKEN REQUEST (after the SVM did it). */
function lossy(inner: CardChannel, state: { lose: boolean }): CardChannel {
  return {
    readerName: inner.readerName,
    atr: inner.atr,
    protocol: inner.protocol,
    async transmit(c: CommandApdu) {
      const r = await inner.transmit(c);
      if (c.ins === 0x40 && state.lose) {
        state.lose = false;
        throw new CardChannelError('answer lost', inner.readerName);
      }
      return r;
    },
    reset: () => inner.reset(),
    disconnect: () => inner.disconnect(),
  };
}

describe("SvmCreditRegister (the meter core's CreditRegister over SAM + SVM)", () => {
  it('grants up to the balance, then 0 when empty', async () => {
    const w = new World({ svmBalance: 250 });
    const reg: CreditRegister = new SvmCreditRegister(await w.meter());
    expect(await reg.balance()).toBe(250);
    expect(await reg.requestTokens(100)).toBe(100);
    expect(await reg.requestTokens(100)).toBe(100);
    expect(await reg.requestTokens(100)).toBe(50);
    expect(await reg.requestTokens(100)).toBe(0);
    expect(await reg.balance()).toBe(0);
    await expect(reg.requestTokens(0)).rejects.toBeInstanceOf(RangeError);
  });

  it('a lost answer after the SVM debited still reports the units (none lost)', async () => {
    const w = new World({ svmBalance: 250 });
    const state = { lose: true };
    const m = await MeterModules.open(
      await w.samReader.connect(),
      lossy(await w.svmReader.connect(), state),
      w.core(),
    );
    const reg = new SvmCreditRegister(m);
    expect(await reg.requestTokens(100)).toBe(100);
    expect(w.svmView()).toMatchObject({ balance: 150, counter: 1 });
  });

  it('a lost request (SVM never saw it) rejects, nothing debited', async () => {
    const w = new World({ svmBalance: 250 });
    const svm = await w.svmReader.connect();
    const dropping: CardChannel = {
      readerName: svm.readerName,
      atr: svm.atr,
      protocol: svm.protocol,
      transmit: (c: CommandApdu) =>
        c.ins === 0x40 ? Promise.reject(new CardChannelError('link down', 'SVM')) : svm.transmit(c),
      reset: () => svm.reset(),
      disconnect: () => svm.disconnect(),
    };
    const reg = new SvmCreditRegister(
      await MeterModules.open(await w.samReader.connect(), dropping, w.core()),
    );
    await expect(reg.requestTokens(100)).rejects.toBeInstanceOf(CardChannelError);
    expect(w.svmView()).toMatchObject({ balance: 250, counter: 0 });
  });
});
