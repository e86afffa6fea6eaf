import { describe, expect, it } from 'vitest';
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { fromHex } from '../../card/util/hex.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { makeSam, makeSvm } from '../../card/applets/profiles.js';
import { MeterModules } from '../../terminal/MeterModules.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { CardMeterTerminal, cardMeterEndpoint } from '../../host/card/CardMeterTerminal.js';
import { LocalService } from '../../host/network/LocalService.js';
import { PowerLineChannel } from '../../host/network/PowerLineChannel.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { MemoryCreditStore } from '../../host/CreditStore.js';
import { ValueStoreDispatcher } from '../../host/ValueStoreDispatcher.js';
import {
  VS_CREDITED,
  VS_DUPLICATE,
  REFUSE_BAD_SIGNATURE,
  REFUSE_MALFORMED,
  REFUSE_UNKNOWN_HEADER,
} from '../../protocol/constants.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { ProtocolError } from '../../protocol/errors.js';

const cipher = new NodeCipherProvider();
const meterId = fromHex('00C0DE');

async function meter() {
  const issuer = IssuerKeys.demo(cipher, 'host-e2e');
  const sam = makeSam(issuer, { meterId, terminalId: fromHex('0000C0DE'), rng: new SeededRng('e2e-sam') });
  const svm = makeSvm(issuer, {
    meterId,
    terminalId: fromHex('0000C0DE'),
    max: 1_000_000,
    rng: new SeededRng('e2e-svm'),
  });
  const modules = await MeterModules.open(
    await new VirtualReader('SAM', sam.os).connect(),
    await new VirtualReader('SVM', svm.os).connect(),
  );
  const ring = HostKeyRing.of(issuer.utility(1).host);
  return {
    modules,
    terminal: new CardMeterTerminal(modules),
    host: new HostProtocol(cipher, new SeededRng('e2e-host'), () => ring),
    ring,
  };
}

describe('host → SAM + SVM applets through CardChannels', () => {
  it('a value store credits the SVM; a repeat of the tx id is a duplicate answered with the original result', async () => {
    const { modules, terminal, host, ring } = await meter();
    const ref = { id: meterId, keyVersion: ring.current! };
    const a = await host.valueStore(terminal, ref, 1234, 99n);
    expect(a.status).toBe(VS_CREDITED);
    expect(a.balance).toBe(1234);
    expect((await modules.readState()).balance).toBe(1234);
    const b = await host.valueStore(terminal, ref, 1234, 99n);
    expect(b.status).toBe(VS_DUPLICATE);
    expect(b.balanceAfter).toBe(1234);
    expect((await modules.readState()).balance).toBe(1234);
  });

  it('a tampered EnAmnt is refused by the SAM (bad S2h) and credits nothing', async () => {
    const { modules, terminal, host, ring } = await meter();
    const flip: Terminal = {
      init: (r1, r2, n) => terminal.init(r1, r2, n),
      command: (h, p, s) => {
        const q = Uint8Array.from(p);
        q[3]! ^= 0x40;
        return terminal.command(h, q, s);
      },
    };
    const e = (await host
      .valueStore(flip, { id: meterId, keyVersion: ring.current! }, 10, 1n)
      .catch((x: unknown) => x)) as ProtocolError;
    expect(e).toBeInstanceOf(ProtocolError);
    expect(e.reason).toBe(REFUSE_BAD_SIGNATURE);
    expect((await modules.readState()).balance).toBe(0);
  });

  it('exactly once through the dispatcher when the answer from the cards is lost', async () => {
    const { modules, terminal, host, ring } = await meter();
    let lose = true;
    const lossy: Terminal = {
      init: (r1, r2, n) => terminal.init(r1, r2, n),
      command: async (h, p, s) => {
        const m = await terminal.command(h, p, s);
        if (lose) {
          lose = false;
          throw new Error('answer lost on the line');
        }
        return m;
      },
    };
    const store = new MemoryCreditStore();
    const d = new ValueStoreDispatcher(host, store, {
      ref: () => ({ id: meterId, keyVersion: ring.current! }),
      terminal: () => lossy,
    });
    const o = await d.credit('00C0DE', 500);
    expect(o).toMatchObject({ result: 'confirmed', duplicate: true, balance: 500 });
    expect((await modules.readState()).balance).toBe(500);
  });

  it('host → power-line link (loss, duplication, bit errors, re-ordering) → SAM + SVM: 30 credits, each exactly once', async () => {
    const { modules, terminal, host, ring } = await meter();
    const ls = new LocalService(
      0,
      1,
      new PowerLineChannel(new SeededRng('card-line'), {
        loss: 0.15,
        duplicate: 0.2,
        corrupt: 0.05,
        latencyMs: [20, 200],
      }),
    );
    ls.attach(1, meterId, cardMeterEndpoint(terminal), ring.current!);
    const store = new MemoryCreditStore();
    const d = new ValueStoreDispatcher(
      host,
      store,
      { ref: () => ls.meterRef(1), terminal: () => ls.terminal(1) },
      3,
    );
    for (let i = 1; i <= 30; i++) await d.credit('00C0DE', i);
    for (let r = 0; r < 500 && store.pending().length > 0; r++) await d.recover();
    expect(store.pending()).toHaveLength(0);
    expect((await modules.readState()).balance).toBe((30 * 31) / 2);
    expect(ls.stats.framesRejected + ls.stats.lateOrForeign + ls.stats.timeouts).toBeGreaterThan(0);
  });

  it('the card endpoint answers garbage and unsupported headers with refusals', async () => {
    const { terminal } = await meter();
    const ep = cardMeterEndpoint(terminal);
    expect(decodeMessage(await ep.handle(fromHex('FFFF')))).toEqual({
      kind: 'refusal',
      reason: REFUSE_MALFORMED,
    });
    const cmd = encodeMessage({
      kind: 'command-request',
      h: 0x53,
      payload: new Uint8Array(6),
      s2h: new Uint8Array(8),
    });
    expect(decodeMessage(await ep.handle(cmd))).toEqual({ kind: 'refusal', reason: REFUSE_UNKNOWN_HEADER });
  });
});
