// The exchange observer of ApduTransport / VirtualChannel.transmitObserved (issue 14): told of each
// exchange as the caller sees it, synchronously before the caller's promise settles.
import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import type { ExchangeObserver } from '../../reader/ApduTransport.js';
import { CardRemovedError } from '../../reader/errors.js';
import type { VirtualChannel } from '../../reader/VirtualChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { TEST_AID, TEST_FCI, TEST_FILE, TestCard, getDataPayload } from './TestCard.js';

const apdu = (hex: string) => CommandApdu.decode(fromHex(hex));
const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 });

/** An observer that logs what it is told, and when (a counter shared with the test's own steps). */
function logger() {
  const log: string[] = [];
  let t = 0;
  const observer: ExchangeObserver = {
    begin: () => ++t,
    answered: (c: CommandApdu, r: ResponseApdu, start: number) =>
      log.push(`ok ${toHex(c.encode())} -> ${toHex(r.encode())} @${start}`),
    failed: (c: CommandApdu, e: unknown, start: number) =>
      log.push(`fail ${toHex(c.encode())} ${(e as Error).name} @${start}`),
  };
  return { log, observer };
}

async function open(t0: boolean) {
  const card = new TestCard({ t0 });
  const reader = new VirtualReader('Test reader', card);
  const ch = (await reader.connect()) as VirtualChannel;
  return { card, reader, ch };
}

describe('exchange observer', () => {
  it('T=0: sees the caller’s case 4 command and the response GET RESPONSE assembled, once', async () => {
    const { card, ch } = await open(true);
    const { log, observer } = logger();
    const r = await ch.transmitObserved(SELECT, observer);
    expect(toHex(r.dataView())).toBe(toHex(TEST_FCI));
    // The card saw case 3 then GET RESPONSE; the observer saw one exchange, as the caller did.
    expect(card.log.map(toHex)).toEqual([toHex(SELECT.encode()).slice(0, -2), '00C000000A']);
    expect(log).toEqual([`ok ${toHex(SELECT.encode())} -> ${toHex(TEST_FCI)}9000 @1`]);
  });

  it('a long response joined from several 61xx chunks: the caller’s view, once', async () => {
    const { ch } = await open(true);
    const { log, observer } = logger();
    const get = apdu('00CA010000');
    const r = await ch.transmitObserved(get, observer);
    expect(r.dataView()).toEqual(getDataPayload(0));
    expect(log).toHaveLength(1);
    expect(log[0]).toBe(`ok 00CA010000 -> ${toHex(getDataPayload(0))}9000 @1`);
  });

  it('is told before the caller resumes, in order, with the start read at the call (concurrent calls)', async () => {
    const { ch } = await open(false);
    const { log, observer } = logger();
    const a = ch.transmitObserved(SELECT, observer);
    const b = ch.transmitObserved(apdu('00B0000010'), observer);
    const seen: number[] = [];
    await Promise.all([a.then(() => seen.push(log.length)), b.then(() => seen.push(log.length))]);
    expect(seen).toEqual([1, 2]);
    expect(log).toEqual([
      `ok ${toHex(SELECT.encode())} -> ${toHex(TEST_FCI)}9000 @1`,
      `ok 00B0000010 -> ${toHex(TEST_FILE)}9000 @2`,
    ]);
  });

  it('errors: told `failed` with the error the caller gets; the queue goes on after it', async () => {
    const { ch, reader, card } = await open(false);
    const { log, observer } = logger();
    reader.remove();
    const e = await ch.transmitObserved(SELECT, observer).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CardRemovedError);
    expect(log).toEqual([`fail ${toHex(SELECT.encode())} CardRemovedError @1`]);
    reader.insert(card);
    const again = (await reader.connect()) as VirtualChannel;
    await again.transmitObserved(SELECT, observer);
    expect(log).toHaveLength(2);
  });

  it('plain transmit() tells no observer', async () => {
    const { ch } = await open(false);
    const { log, observer } = logger();
    await ch.transmit(SELECT);
    await ch.transmitObserved(apdu('00B0000010'), observer);
    expect(log).toEqual([`ok 00B0000010 -> ${toHex(TEST_FILE)}9000 @1`]);
  });
});
