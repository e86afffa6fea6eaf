import { describe, expect, it } from 'vitest';
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { concatBytes, fromHex } from '../../card/util/hex.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { createCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { MeterModem, type ModemEvent } from '../../meter/modem/MeterModem.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { LocalService } from '../../host/network/LocalService.js';
import { PowerLineChannel } from '../../host/network/PowerLineChannel.js';
import { txId } from '../../protocol/TxId.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { MemoryCreditStore } from '../../host/CreditStore.js';
import { ValueStoreDispatcher } from '../../host/ValueStoreDispatcher.js';
import {
  VS_CREDITED,
  VS_DUPLICATE,
  REFUSE_BAD_PAYLOAD,
  REFUSE_BAD_SIGNATURE,
  REFUSE_MALFORMED,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_HEADER,
  REFUSE_UNKNOWN_KEY_VERSION,
} from '../../protocol/constants.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { ProtocolError } from '../../protocol/errors.js';

const cipher = new NodeCipherProvider();
const meterId = fromHex('00C0DE');

async function meter() {
  const issuer = IssuerKeys.demo(cipher, 'host-e2e');
  const cm = await createCardMeter({
    meter: { start: RtcTime.of(2026, 6, 1), commissioned: true },
    issuer,
    meterId,
    svmMax: 1_000_000,
    seed: 'e2e',
  });
  // Value that reached the meter: what its SVM holds plus what the meter core drew from it as
  // tokens (a real core refills its token tank as soon as credit arrives).
  const modules = {
    readState: async () => ({ balance: (await cm.svmBalance()) + cm.meter.exchanger.drawn }),
  };
  const ring = HostKeyRing.of(issuer.utility(1).host);
  return {
    modules,
    terminal: new MeterModem(cm),
    host: new HostProtocol(cipher, new SeededRng('e2e-host'), () => ring),
    ring,
    cm,
  };
}

describe('host → SAM + SVM applets through CardChannels', () => {
  it('a value store credits the SVM; a repeat of the tx id is a duplicate answered with the original result', async () => {
    const { modules, terminal, host, ring, cm } = await meter();
    const ref = { id: meterId, keyVersion: ring.current! };
    const a = await host.valueStore(terminal, ref, 1234, txId(99n));
    expect(a.status).toBe(VS_CREDITED);
    expect(a.balance).toBe(1234); // the SVM's balance when the SAM made M
    expect(cm.meter.exchanger.drawn).toBe(100); // then the core took a 100-unit token request
    expect(await cm.svmBalance()).toBe(1134);
    expect((await modules.readState()).balance).toBe(1234);
    const b = await host.valueStore(terminal, ref, 1234, txId(99n));
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
      .valueStore(flip, { id: meterId, keyVersion: ring.current! }, 10, txId(1n))
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
    // the duplicate answer names the SVM's balance now: 500 less the core's first token request
    expect(o).toMatchObject({ result: 'confirmed', duplicate: true, balance: 400 });
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
    ls.attach(1, meterId, terminal, ring.current!);
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

  it('an authenticated tariff change whose table breaks a rule is refused (06) and recorded; the tables stay', async () => {
    const { terminal, host, ring, cm } = await meter();
    const events: ModemEvent[] = [];
    terminal.onEvent((e) => events.push(e));
    const ref = { id: meterId, keyVersion: ring.current! };
    const before = cm.meter.schedule.active.encode();
    const bad = concatBytes(fromHex('261201000000'), Uint8Array.of(0x01, 0xff)); // not a table
    const e = (await host.session(terminal, ref, 0x52, () => bad).catch((x: unknown) => x)) as ProtocolError;
    expect(e).toBeInstanceOf(ProtocolError);
    expect(e.reason).toBe(REFUSE_BAD_PAYLOAD);
    expect(cm.meter.events.entries().at(-1)!.kind).toBe('tariff-rejected');
    expect(cm.meter.schedule.active.encode()).toEqual(before);
    expect(cm.meter.schedule.pending).toBeUndefined();
    // and a good one afterwards goes through (a new session)
    const a = await host.changeTariff(terminal, ref, RtcTime.of(2026, 12, 1), TariffTable.flat(42));
    expect(a.activation.toString()).toBe('261201000000');
    expect(cm.meter.schedule.pending?.table.encode()).toEqual(TariffTable.flat(42).encode());
    // the modem reports only what it carried out
    expect(events).toEqual([{ kind: 'tariff', activation: RtcTime.of(2026, 12, 1).seconds }]);
  });

  it('the modem answers garbage, a command without a session and an unknown header with refusals', async () => {
    const { terminal: ep } = await meter();
    expect(decodeMessage(await ep.handle(fromHex('FFFF')))).toEqual({
      kind: 'refusal',
      reason: REFUSE_MALFORMED,
    });
    const cmd = (h: number) =>
      encodeMessage({ kind: 'command-request', h, payload: new Uint8Array(6), s2h: new Uint8Array(8) });
    expect(decodeMessage(await ep.handle(cmd(0x53)))).toEqual({ kind: 'refusal', reason: REFUSE_NO_SESSION });
    const init = encodeMessage({ kind: 'init-request', r1: new Uint8Array(8), r2: new Uint8Array(8), n: 1 });
    expect(decodeMessage(await ep.handle(init)).kind).toBe('init-response');
    // (0x54–0x56 are the clearing commands of issue 13: 0x5F is unknown)
    expect(decodeMessage(await ep.handle(cmd(0x5f)))).toEqual({
      kind: 'refusal',
      reason: REFUSE_UNKNOWN_HEADER,
    });
    // the session served that (refused) command: the next one finds none
    expect(decodeMessage(await ep.handle(cmd(0x53)))).toEqual({ kind: 'refusal', reason: REFUSE_NO_SESSION });
    // a key version the SAM does not hold
    const bad = encodeMessage({ kind: 'init-request', r1: new Uint8Array(8), r2: new Uint8Array(8), n: 9 });
    expect(decodeMessage(await ep.handle(bad))).toEqual({
      kind: 'refusal',
      reason: REFUSE_UNKNOWN_KEY_VERSION,
    });
  });
});
