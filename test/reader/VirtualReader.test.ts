import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { CardPowerLostError, type CardOs } from '../../card/os/CardOs.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import type { ReaderEvent } from '../../reader/Reader.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  CardRemovedError,
  CardTimeoutError,
  ChannelClosedError,
  NoCardError,
  ReaderUnavailableError,
  TransportError,
} from '../../reader/errors.js';
import { ATR_T0, TEST_AID, TEST_FCI, TestCard } from './TestCard.js';

const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 });
const READ = CommandApdu.decode(fromHex('00B0000010'));

describe('VirtualReader', () => {
  it('connect on an empty slot: NoCardError naming the reader', async () => {
    const err = await new VirtualReader('Empty slot').connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoCardError);
    expect((err as NoCardError).readerName).toBe('Empty slot');
    expect((err as Error).message).toContain("'Empty slot'");
  });

  it('insert and remove raise events; waitForCard / waitForRemoval follow them', async () => {
    const reader = new VirtualReader('R');
    const seen: ReaderEvent['type'][] = [];
    reader.onEvent((e) => seen.push(e.type));
    const waiting = reader.waitForCard(5_000);
    const card = new TestCard();
    reader.insert(card);
    expect(toHex(await waiting)).toBe(toHex(card.atr));
    expect(reader.cardPresent).toBe(true);
    const leaving = reader.waitForRemoval(5_000);
    expect(reader.remove()).toBe(card);
    await leaving;
    expect(seen).toEqual(['inserted', 'removed']);
    expect(reader.cardPresent).toBe(false);
  });

  it('waitForCard times out with CardTimeoutError', async () => {
    const err = await new VirtualReader('R').waitForCard(20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardTimeoutError);
    expect((err as CardTimeoutError).timeoutMs).toBe(20);
  });

  it('a second insert without remove is refused', () => {
    const reader = new VirtualReader('R', new TestCard());
    expect(() => reader.insert(new TestCard())).toThrow(/already holds a card/);
  });

  it('connect powers the card and picks the protocol from the ATR', async () => {
    const card = new TestCard();
    const ch = await new VirtualReader('R', card).connect();
    expect(card.powered).toBe(true);
    expect(ch.protocol).toBe('T=1');
    expect(toHex(ch.atr)).toBe(toHex(card.atr));
    const t0 = await new VirtualReader('R0', new TestCard({ t0: true })).connect();
    expect(t0.protocol).toBe('T=0');
    expect(toHex(t0.atr)).toBe(toHex(ATR_T0));
  });

  it('asking for a protocol the card does not offer is a TransportError', async () => {
    const err = await new VirtualReader('R', new TestCard())
      .connect({ protocol: 'T=0' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/offers T=1, not T=0/);
  });

  it('card removed mid-exchange: CardRemovedError, then a new connection after re-insertion works', async () => {
    const reader = new VirtualReader('R');
    let pull = false;
    const card = new TestCard({ onTransmit: () => pull && reader.remove() });
    reader.insert(card);
    const ch = await reader.connect();
    expect((await ch.transmit(SELECT)).sw).toBe(0x9000);
    pull = true;
    const err = await ch.transmit(READ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardRemovedError);
    expect((err as Error).message).toMatch(/removed from 'R' during the command/);
    // Every later call on the old channel fails the same way.
    await expect(ch.transmit(READ)).rejects.toBeInstanceOf(CardRemovedError);
    await expect(ch.reset()).rejects.toBeInstanceOf(CardRemovedError);
    pull = false;
    reader.insert(card);
    const again = await reader.connect();
    expect(toHex((await again.transmit(SELECT)).data)).toBe(toHex(TEST_FCI));
    await expect(ch.transmit(READ)).rejects.toBeInstanceOf(CardRemovedError);
  });

  it('card removed during a GET RESPONSE chain: CardRemovedError, no partial data', async () => {
    const reader = new VirtualReader('R');
    const card = new TestCard({
      t0: true,
      onTransmit: (c) => {
        if (c[1] === 0xc0) reader.remove();
      },
    });
    reader.insert(card);
    const ch = await reader.connect();
    await expect(ch.transmit(CommandApdu.decode(fromHex('00CA010000')))).rejects.toBeInstanceOf(
      CardRemovedError,
    );
  });

  it('power cut mid-command (CardPowerLostError) becomes CardRemovedError', async () => {
    const card = new TestCard({
      onTransmit: () => {
        throw new CardPowerLostError('tear');
      },
    });
    const ch = await new VirtualReader('R', card).connect();
    const err = await ch.transmit(SELECT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardRemovedError);
    expect((err as Error).message).toMatch(/lost power during transmit/);
    expect((err as CardRemovedError).cause).toBeInstanceOf(CardPowerLostError);
  });

  it('a card OS that throws something else gives a CardChannelError, not a crash', async () => {
    const card = new TestCard({
      onTransmit: () => {
        throw new Error('bug in applet');
      },
    });
    const ch = await new VirtualReader('R', card).connect();
    const err = await ch.transmit(SELECT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardChannelError);
    expect((err as Error).message).toMatch(/card OS in 'R' failed during transmit: bug in applet/);
  });

  it('disconnect unpowers the card; the channel is closed afterwards', async () => {
    const card = new TestCard();
    const ch = await new VirtualReader('R', card).connect();
    await ch.disconnect();
    expect(card.powered).toBe(false);
    await expect(ch.transmit(SELECT)).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it("disposition 'leave' keeps the card powered and its selection", async () => {
    const card = new TestCard();
    const reader = new VirtualReader('R', card);
    const ch = await reader.connect({ disposition: 'leave' });
    await ch.transmit(SELECT);
    await ch.disconnect();
    expect(card.powered).toBe(true);
    const ch2 = await reader.connect();
    expect((await ch2.transmit(READ)).sw).toBe(0x9000);
  });

  it('reset clears the selection and returns the ATR', async () => {
    const card = new TestCard();
    const ch = await new VirtualReader('R', card).connect();
    await ch.transmit(SELECT);
    expect(toHex(await ch.reset())).toBe(toHex(card.atr));
    expect(card.resets).toBe(1);
    expect((await ch.transmit(READ)).sw).toBe(0x6986);
  });

  it('a card powered down behind the channel gives CardRemovedError', async () => {
    const card: CardOs = new TestCard();
    const ch = await new VirtualReader('R', card).connect();
    card.powerDown();
    await expect(ch.transmit(SELECT)).rejects.toThrow(/not powered/);
  });

  it('reader unplugged mid-exchange: ReaderUnavailableError for the command, the channel, waits and connect', async () => {
    const reader = new VirtualReader('USB reader');
    let unplug = false;
    const card = new TestCard({ onTransmit: () => unplug && reader.unplug('USB cable pulled') });
    reader.insert(card);
    const events: string[] = [];
    reader.onEvent((e) => events.push(e.type));
    const ch = await reader.connect();
    const waiting = reader.waitForRemoval(5000);
    expect((await ch.transmit(SELECT)).sw).toBe(0x9000);
    unplug = true;
    const err = await ch.transmit(READ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReaderUnavailableError);
    expect((err as Error).message).toBe(
      "reader 'USB reader' is gone (USB cable pulled); its card is unreachable",
    );
    await expect(waiting).rejects.toBeInstanceOf(ReaderUnavailableError);
    await expect(ch.transmit(READ)).rejects.toBeInstanceOf(ReaderUnavailableError);
    await expect(reader.connect()).rejects.toBeInstanceOf(ReaderUnavailableError);
    await expect(reader.waitForCard(10)).rejects.toBeInstanceOf(ReaderUnavailableError);
    expect(card.powered).toBe(false);
    expect(events).toEqual(['unavailable']);
  });
});
