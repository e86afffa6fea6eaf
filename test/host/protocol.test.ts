import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex } from '../../card/util/hex.js';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { txId } from '../../protocol/TxId.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import {
  FLAG_BYPASS,
  REFUSE_BAD_SIGNATURE,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_KEY_VERSION,
  VS_CREDITED,
  VS_DUPLICATE,
  VS_REFUSED_MAX_BALANCE,
} from '../../protocol/constants.js';
import { ProtocolError } from '../../protocol/errors.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';
import type { Terminal } from '../../protocol/Terminal.js';
import { decodeValueStoreAnswer, decodeUsageInfo, decodeTariffPayload } from '../../protocol/payloads.js';
import { makeHost, makeMeter } from './helpers.js';

const ID = fromHex('12AB34');

describe('seed 000 protocol, both sides', () => {
  it('value store credits the SVM and returns the balance and ID', async () => {
    const meter = makeMeter(ID, 'm', { balance: 500 });
    const host = makeHost();
    const a = await host.valueStore(meter.asTerminal(), { id: ID, keyVersion: 1 }, 2500, txId(77n));
    expect(a.status).toBe(VS_CREDITED);
    expect(a.balance).toBe(3000);
    expect(a.balanceAfter).toBe(3000);
    expect(meter.balance).toBe(3000);
    expect([...a.id]).toEqual([...ID]);
  });

  it('a repeated transaction id is answered as a duplicate and credits nothing', async () => {
    const meter = makeMeter(ID, 'm', { balance: 0 });
    const host = makeHost();
    await host.valueStore(meter.asTerminal(), { id: ID, keyVersion: 0 }, 100, txId(1n));
    await host.valueStore(meter.asTerminal(), { id: ID, keyVersion: 0 }, 50, txId(2n));
    const again = await host.valueStore(meter.asTerminal(), { id: ID, keyVersion: 1 }, 100, txId(1n));
    expect(again.status).toBe(VS_DUPLICATE);
    expect(again.balanceAfter).toBe(100);
    expect(again.balance).toBe(150);
    expect(meter.balance).toBe(150);
    expect(meter.creditsApplied).toBe(2);
  });

  it('over the maximum balance: an authenticated refusal, nothing credited', async () => {
    const meter = makeMeter(ID, 'm', { balance: 900, maxBalance: 1000 });
    const a = await makeHost().valueStore(meter.asTerminal(), { id: ID, keyVersion: 0 }, 101, txId(5n));
    expect(a.status).toBe(VS_REFUSED_MAX_BALANCE);
    expect(meter.balance).toBe(900);
  });

  it('tariff change stores the table and activates it at the activation time', async () => {
    const meter = makeMeter(ID, 'm', { clock: RtcTime.of(2026, 3, 1).seconds });
    const table = TariffTable.example(130);
    const act = RtcTime.of(2026, 3, 2);
    const a = await makeHost().changeTariff(meter.asTerminal(), { id: ID, keyVersion: 0 }, act, table);
    expect(a.activation.seconds).toBe(act.seconds);
    expect(meter.activeTable().encode()).not.toEqual(table.encode());
    meter.clock = act.seconds;
    expect(meter.activeTable().encode()).toEqual(table.encode());
  });

  it('usage check returns Log, ModeTB, Timer, Balance and ID and sets the clock', async () => {
    const start = RtcTime.of(2026, 5, 1, 10, 0, 0).seconds;
    const meter = makeMeter(ID, 'm', { clock: start, balance: 4242, flags: FLAG_BYPASS });
    for (let i = 0; i < 90; i++) {
      meter.clock = start + i * 60;
      meter.consume(10);
    }
    meter.clock = start + 90 * 60 + 17; // drifted
    const hostTime = RtcTime.of(2026, 5, 1, 11, 30, 0);
    const info = await makeHost().usageCheck(meter.asTerminal(), { id: ID, keyVersion: 0 }, hostTime);
    expect(info.balance).toBe(4242);
    expect(info.flags).toBe(FLAG_BYPASS);
    expect(info.energyWh).toBe(900);
    expect(info.timer.seconds).toBe(start + 90 * 60 + 17);
    expect(info.logView.minutes.reduce((s, v) => s + v, 0) * info.logView.minuteUnit).toBe(900_000 - 0);
    expect(meter.clock).toBe(hostTime.seconds);
  });

  it('a terminal with the wrong KT fails terminal authentication (S1h != S1t)', async () => {
    const meter = makeMeter(fromHex('000001'));
    const err = await makeHost()
      .valueStore(meter.asTerminal(), { id: ID, keyVersion: 0 }, 1, txId(1n))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('terminal-auth-failed');
    expect(meter.balance).toBe(0);
  });

  it('an unknown key version is refused', async () => {
    const meter = makeMeter(ID);
    const err = (await makeHost()
      .valueStore(meter.asTerminal(), { id: ID, keyVersion: 7 }, 1, txId(1n))
      .catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('UnknownKeyVersionError');
    const term = meter.asTerminal();
    const e2 = (await term
      .init(new Uint8Array(8), new Uint8Array(8), 9)
      .catch((e: unknown) => e)) as ProtocolError;
    expect(e2.code).toBe('refused');
    expect(e2.reason).toBe(REFUSE_UNKNOWN_KEY_VERSION);
  });

  it('a tampered payload, a replayed command and an old command after a new INIT are refused', async () => {
    const meter = makeMeter(ID, 'm');
    const frames: Uint8Array[] = [];
    const spy: Terminal = {
      init: (r1, r2, n) => meter.asTerminal().init(r1, r2, n),
      command: (h, p, s) => {
        frames.push(encodeMessage({ kind: 'command-request', h, payload: p, s2h: s }));
        return meter.asTerminal().command(h, p, s);
      },
    };
    await makeHost().valueStore(spy, { id: ID, keyVersion: 0 }, 100, txId(9n));
    expect(meter.balance).toBe(100);
    const recorded = frames[0]!;
    // replay with no session open
    expect(decodeMessage(meter.handle(recorded))).toEqual({ kind: 'refusal', reason: REFUSE_NO_SESSION });
    // replay after a fresh INIT: new R3, so S2h no longer matches
    meter.handle(encodeMessage({ kind: 'init-request', r1: new Uint8Array(8), r2: new Uint8Array(8), n: 0 }));
    expect(decodeMessage(meter.handle(recorded))).toEqual({ kind: 'refusal', reason: REFUSE_BAD_SIGNATURE });
    // one flipped payload bit in a live session
    const host = makeHost('h2');
    const flip: Terminal = {
      init: (r1, r2, n) => meter.asTerminal().init(r1, r2, n),
      command: (h, p, s) => {
        const q = Uint8Array.from(p);
        q[0]! ^= 1;
        return meter.asTerminal().command(h, q, s);
      },
    };
    const err = (await host
      .valueStore(flip, { id: ID, keyVersion: 0 }, 100, txId(10n))
      .catch((e: unknown) => e)) as ProtocolError;
    expect(err.code).toBe('refused');
    expect(err.reason).toBe(REFUSE_BAD_SIGNATURE);
    expect(meter.balance).toBe(100);
    expect(meter.creditsApplied).toBe(1);
  });

  it('the host detects an answer for another meter ID (STEP 16)', async () => {
    const meter = makeMeter(ID, 'm');
    const liar: Terminal = {
      init: (r1, r2, n) => meter.asTerminal().init(r1, r2, n),
      command: async (h, p, s) => {
        await meter.asTerminal().command(h, p, s);
        return new Uint8Array(24); // not E(... ‖ ID, Ks)
      },
    };
    const err = (await makeHost()
      .valueStore(liar, { id: ID, keyVersion: 0 }, 1, txId(1n))
      .catch((e: unknown) => e)) as ProtocolError;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(['bad-answer', 'id-mismatch']).toContain(err.code);
  });

  it('message and payload parsers throw only MalformedDataError on any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        for (const f of [decodeMessage, decodeValueStoreAnswer, decodeUsageInfo, decodeTariffPayload]) {
          try {
            f(b);
          } catch (e) {
            expect(e).toBeInstanceOf(MalformedDataError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the terminal answers any garbage with a refusal and never throws', () => {
    const meter = makeMeter(ID, 'm');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const out = decodeMessage(meter.handle(b));
        expect(['refusal', 'init-response']).toContain(out.kind);
      }),
      { numRuns: 1000 },
    );
    expect(meter.balance).toBe(0);
  });
});
