import { describe, expect, it } from 'vitest';
import type { CreditRegister } from '../../meter/CreditRegister.js';
import { CreditRefusedError } from '../../meter/errors.js';
import { ModuleLink, type ChannelWrapper } from '../../meter/cardslot/ModuleLink.js';
import { ModuleCreditRegister } from '../../meter/cardslot/ModuleCreditRegister.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { INS_TOKEN_REQUEST } from '../../card/applets/constants.js';
import { World } from './world.js';

/** An SVM channel that loses the answer of the next TOKEN REQUEST (after the SVM did it). */
function lossy(inner: CardChannel, state: { lose: boolean }): CardChannel {
  return {
    readerName: inner.readerName,
    atr: inner.atr,
    protocol: inner.protocol,
    async transmit(c: CommandApdu) {
      const r = await inner.transmit(c);
      if (c.ins === INS_TOKEN_REQUEST && state.lose) {
        state.lose = false;
        throw new CardChannelError('answer lost', inner.readerName);
      }
      return r;
    },
    reset: () => inner.reset(),
    disconnect: () => inner.disconnect(),
  };
}

/** An SVM channel that drops every TOKEN REQUEST before the SVM sees it. */
function dropping(svm: CardChannel): CardChannel {
  return {
    readerName: svm.readerName,
    atr: svm.atr,
    protocol: svm.protocol,
    transmit: (c: CommandApdu) =>
      c.ins === INS_TOKEN_REQUEST
        ? Promise.reject(new CardChannelError('link down', 'SVM'))
        : svm.transmit(c),
    reset: () => svm.reset(),
    disconnect: () => svm.disconnect(),
  };
}

/** The meter core's one token requester over this world's SAM and SVM. */
function register(w: World, svmWrap: (c: CardChannel) => CardChannel = (c) => c): ModuleCreditRegister {
  const wrap: ChannelWrapper = (c, role) => (role === 'svm' ? svmWrap(c) : c);
  return new ModuleCreditRegister(new ModuleLink(w.samReader, w.svmReader, wrap, w.core()));
}

describe("ModuleCreditRegister (the meter core's CreditRegister over SAM + SVM)", () => {
  it('grants up to the balance, each request once, then 0 when empty without asking the SVM', async () => {
    const w = new World({ svmBalance: 250 });
    const reg = register(w);
    const asCreditRegister: CreditRegister = reg;
    expect(await asCreditRegister.balance()).toBe(250);
    expect(await reg.requestTokens(100)).toBe(100);
    expect(await reg.requestTokens(100)).toBe(100);
    expect(await reg.requestTokens(100)).toBe(50);
    expect(w.svmView()).toMatchObject({ balance: 0, counter: 3 });
    expect(await reg.requestTokens(100)).toBe(0);
    expect(reg.requests).toBe(3);
    expect(w.svmView().counter).toBe(3);
    expect(await reg.balance()).toBe(0);
  });

  it.each([0, 65_536, 1.5])('refuses %s units with a RangeError, nothing sent', async (units) => {
    const w = new World({ svmBalance: 250 });
    const reg = register(w);
    await expect(reg.requestTokens(units)).rejects.toBeInstanceOf(RangeError);
    expect(reg.requests).toBe(0);
    expect(w.svmView()).toMatchObject({ balance: 250, counter: 0 });
  });

  it('a lost answer after the SVM debited still reports the units (none lost)', async () => {
    const w = new World({ svmBalance: 250 });
    const state = { lose: true };
    const reg = register(w, (c) => lossy(c, state));
    expect(await reg.requestTokens(100)).toBe(100);
    expect(state.lose).toBe(false);
    expect(w.svmView()).toMatchObject({ balance: 150, counter: 1 });
    expect(reg.saveState()).toEqual({ journal: null, recovered: 100 });
  });

  it('a lost request (SVM never saw it) rejects, nothing debited, nothing owed', async () => {
    const w = new World({ svmBalance: 250 });
    const reg = register(w, dropping);
    const e: unknown = await reg.requestTokens(100).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CreditRefusedError);
    expect((e as CreditRefusedError).cause).toBeInstanceOf(CardChannelError);
    expect(w.svmView()).toMatchObject({ balance: 250, counter: 0 });
    expect(reg.saveState()).toEqual({ journal: null, recovered: 0 });
  });
});
