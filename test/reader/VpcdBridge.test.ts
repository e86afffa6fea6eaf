import { afterEach, describe, expect, it } from 'vitest';
import { CardPowerLostError, type CardOs } from '../../card/os/CardOs.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { VpcdBridge, type BridgeEvent } from '../../reader/vpcd/VpcdBridge.js';
import { TEST_AID, TEST_FCI, TestCard } from './TestCard.js';
import { FakeVpcd } from './FakeVpcd.js';

const SELECT = '00A4040007' + toHex(TEST_AID) + '00';
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(card: CardOs, opts: { events?: BridgeEvent[]; log?: string[] } = {}) {
  const vpcd = new FakeVpcd();
  const port = await vpcd.listen();
  const bridge = new VpcdBridge(card, {
    port,
    initialDelayMs: 20,
    maxDelayMs: 100,
    log: (l) => opts.log?.push(l),
    afterEvent: (e) => opts.events?.push(e),
  }).start();
  cleanup.push(
    () => vpcd.close(),
    () => bridge.stop(),
  );
  await vpcd.connection();
  await bridge.waitConnected(2000);
  return { vpcd, bridge, port };
}

describe('VpcdBridge', () => {
  it('answers get-ATR and APDUs; power on/off/reset reach the card and get no answer', async () => {
    const card = new TestCard();
    const events: BridgeEvent[] = [];
    const { vpcd } = await setup(card, { events });
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange('04')).toBe(toHex(card.atr));
    expect(card.powered).toBe(true);
    expect(await vpcd.exchange(SELECT)).toBe(toHex(TEST_FCI) + '9000');
    vpcd.send(Uint8Array.of(0x02));
    // After the reset the selection is gone: READ BINARY fails with 6986.
    expect(await vpcd.exchange('00B0000010')).toBe('6986');
    expect(card.resets).toBe(1);
    vpcd.send(Uint8Array.of(0x00));
    expect(await vpcd.exchange('04')).toBe(toHex(card.atr));
    expect(card.powered).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(['power-on', 'apdu', 'reset', 'apdu', 'power-off']);
  });

  it('reassembles frames split across writes and several frames in one write', async () => {
    const card = new TestCard();
    const { vpcd } = await setup(card);
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange(SELECT, true)).toBe(toHex(TEST_FCI) + '9000');
    // Two APDUs back to back in one write.
    const a = fromHex('00B0000010');
    vpcd.peer!.write(concatBytes(Uint8Array.of(0, a.length), a, Uint8Array.of(0, a.length), a));
    expect(toHex(await vpcd.next())).toBe(toHex(card.file) + '9000');
    expect(toHex(await vpcd.next())).toBe(toHex(card.file) + '9000');
  });

  it('a card that throws: 6F00, logged, and the bridge keeps serving', async () => {
    let fail: Error | undefined;
    const card = new TestCard({
      onTransmit: () => {
        if (fail) throw fail;
      },
    });
    const log: string[] = [];
    const { vpcd, bridge } = await setup(card, { log });
    vpcd.send(Uint8Array.of(0x01));
    fail = new Error('applet bug');
    expect(await vpcd.exchange(SELECT)).toBe('6F00');
    fail = new CardPowerLostError('tear');
    expect(await vpcd.exchange(SELECT)).toBe('6F00');
    fail = undefined;
    expect(await vpcd.exchange(SELECT)).toBe(toHex(TEST_FCI) + '9000');
    expect(bridge.stats.cardErrors).toBe(2);
    expect(log.some((l) => /card failed on 00A40400.*applet bug; answering 6F00/.test(l))).toBe(true);
    expect(log.some((l) => /card lost power/.test(l))).toBe(true);
  });

  it('a response too long for a 2-byte length becomes 6F00', async () => {
    const big: CardOs = {
      atr: fromHex('3B00'),
      powered: true,
      powerUp: () => fromHex('3B00'),
      reset: () => fromHex('3B00'),
      powerDown: () => {},
      transmit: () => new Uint8Array(65538),
    };
    const log: string[] = [];
    const { vpcd } = await setup(big, { log });
    expect(await vpcd.exchange('00CA000000')).toBe('6F00');
    expect(log.join('\n')).toMatch(/65538 bytes does not fit a vpcd frame/);
  });

  it('unknown control bytes are ignored; empty frames too', async () => {
    const { vpcd } = await setup(new TestCard());
    vpcd.send(Uint8Array.of(0x09));
    vpcd.send(new Uint8Array(0));
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange(SELECT)).toBe(toHex(TEST_FCI) + '9000');
  });

  it('waits for vpcd to come up, and reconnects when it goes away (card powered down meanwhile)', async () => {
    // Find a free port, then start the bridge before anything listens there.
    const probe = new FakeVpcd();
    const port = await probe.listen();
    await probe.close();
    const card = new TestCard();
    const log: string[] = [];
    const bridge = new VpcdBridge(card, {
      port,
      initialDelayMs: 20,
      maxDelayMs: 80,
      log: (l) => log.push(l),
    }).start();
    cleanup.push(() => bridge.stop());
    await new Promise((r) => setTimeout(r, 150));
    expect(bridge.connected).toBe(false);
    expect(log.filter((l) => /ECONNREFUSED/.test(l)).length).toBe(1);

    const vpcd = new FakeVpcd();
    await vpcd.listen(port);
    cleanup.push(() => vpcd.close());
    await bridge.waitConnected(3000);
    await vpcd.connection();
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange(SELECT)).toBe(toHex(TEST_FCI) + '9000');
    expect(card.powered).toBe(true);

    const gone = new Promise<void>((r) => bridge.onDisconnected(r));
    vpcd.peer!.destroy();
    await gone;
    expect(card.powered).toBe(false);
    await bridge.waitConnected(3000);
    expect(bridge.stats.connects).toBe(2);
    await vpcd.connection();
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange(SELECT)).toBe(toHex(TEST_FCI) + '9000');
  });

  it('waitConnected times out with a typed error', async () => {
    const probe = new FakeVpcd();
    const port = await probe.listen();
    await probe.close();
    const bridge = new VpcdBridge(new TestCard(), { port, initialDelayMs: 20 }).start();
    cleanup.push(() => bridge.stop());
    await expect(bridge.waitConnected(50)).rejects.toThrow(
      /connecting to vpcd at 127.0.0.1:\d+ timed out after 50 ms/,
    );
  });

  it('checks its arguments', () => {
    expect(() => new VpcdBridge(new TestCard(), { port: 70000 })).toThrow(RangeError);
    expect(() => new VpcdBridge(undefined as unknown as CardOs)).toThrow(TypeError);
  });
});
