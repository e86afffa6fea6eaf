import { describe, expect, it } from 'vitest';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { ApduTransport, getResponseCla } from '../../reader/ApduTransport.js';
import { TransportError } from '../../reader/errors.js';
import { readAtr } from '../../reader/internal/atrInfo.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  ATR_T0,
  ATR_T1_EXTENDED,
  TEST_AID,
  TEST_FCI,
  TEST_FILE,
  TestCard,
  getDataPayload,
} from './TestCard.js';
import type { TransportOptions } from '../../reader/ApduTransport.js';

const apdu = (hex: string) => CommandApdu.decode(fromHex(hex));
const SELECT = new CommandApdu({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 });

async function open(t0: boolean, options: TransportOptions = {}) {
  const card = new TestCard({ t0 });
  const ch = await new VirtualReader('Test reader', card).connect(options);
  return { card, ch, sent: () => card.log.map(toHex) };
}

describe('ATR reading', () => {
  it('T=0 ATR without TDi: T=0, no extended length', () => {
    expect(readAtr(ATR_T0)).toMatchObject({ protocols: ['T=0'], extendedLength: false });
    expect(toHex(readAtr(ATR_T0).historical)).toBe('4D50');
  });
  it('T=1 ATR with card capabilities 00 00 40: extended length', () => {
    expect(readAtr(ATR_T1_EXTENDED)).toMatchObject({ protocols: ['T=1'], extendedLength: true });
  });
  it('truncated ATR reads as T=0 without throwing', () => {
    expect(readAtr(fromHex('3B F0'))).toMatchObject({ protocols: ['T=0'], extendedLength: false });
    expect(readAtr(new Uint8Array(0)).protocols).toEqual(['T=0']);
  });
});

describe('T=1 card', () => {
  it('case 4S goes through unchanged', async () => {
    const { ch, sent } = await open(false);
    const r = await ch.transmit(SELECT);
    expect(ch.protocol).toBe('T=1');
    expect(toHex(r.encode())).toBe(toHex(TEST_FCI) + '9000');
    expect(sent()).toEqual(['00A4040007' + toHex(TEST_AID) + '00']);
  });

  it('61xx after partial data: GET RESPONSE chain joins 2048 bytes', async () => {
    const { ch, sent } = await open(false);
    const r = await ch.transmit(apdu('00CA010000'));
    expect(r.sw).toBe(0x9000);
    expect(toHex(r.data)).toBe(toHex(getDataPayload(0)));
    // 256 bytes per exchange: the command and 7 GET RESPONSE with Le=00.
    expect(sent()).toEqual(['00CA010000', ...Array(7).fill('00C0000000')]);
  });

  it('GET RESPONSE switched off: the 61xx comes back with the first part', async () => {
    const { ch } = await open(false, { getResponse: false });
    const r = await ch.transmit(apdu('00CA010000'));
    expect(r.sw).toBe(0x6100);
    expect(r.data.length).toBe(256);
  });

  it('case 2E Ne=65536 allowed when the ATR announces extended length', async () => {
    const { ch, sent } = await open(false);
    const r = await ch.transmit(new CommandApdu({ cla: 0, ins: 0xca, p1: 1, p2: 0, ne: 65536 }));
    expect(r.data.length).toBe(2048);
    expect(sent()).toEqual(['00CA0100000000']);
  });
});

describe('T=0 card', () => {
  it('case 4S is sent as case 3S, the data fetched with GET RESPONSE (ISO/IEC 7816-3 §12.2.5)', async () => {
    const { ch, sent } = await open(true);
    const r = await ch.transmit(SELECT);
    expect(ch.protocol).toBe('T=0');
    expect(toHex(r.encode())).toBe(toHex(TEST_FCI) + '9000');
    expect(sent()).toEqual(['00A4040007' + toHex(TEST_AID), '00C000000A']);
  });

  it('case 4 transformation switched off: the card gets Le and still answers 61xx', async () => {
    const { ch, sent } = await open(true, { t0Case4: false });
    const r = await ch.transmit(SELECT);
    expect(toHex(r.data)).toBe(toHex(TEST_FCI));
    expect(sent()[0]).toBe('00A4040007' + toHex(TEST_AID) + '00');
  });

  it('6Cxx: the command is resent with Le = xx', async () => {
    const { ch, sent } = await open(true);
    await ch.transmit(SELECT);
    const r = await ch.transmit(apdu('00B0000005'));
    expect(toHex(r.encode())).toBe(toHex(TEST_FILE) + '9000');
    expect(sent().slice(2)).toEqual(['00B0000005', '00B0000010']);
  });

  it('6Cxx re-send switched off: 6C10 comes back', async () => {
    const { ch } = await open(true, { resendOnWrongLe: false });
    await ch.transmit(SELECT);
    expect((await ch.transmit(apdu('00B0000005'))).sw).toBe(0x6c10);
  });

  it('61 00 chain of 2048 bytes (eight GET RESPONSE)', async () => {
    const { ch, sent } = await open(true);
    const r = await ch.transmit(apdu('00CA010000'));
    expect(toHex(r.data)).toBe(toHex(getDataPayload(0)));
    expect(sent().filter((c) => c === '00C0000000').length).toBe(8);
  });

  it('61xx with a short last chunk (600 bytes = 256 + 256 + 88)', async () => {
    const { ch, sent } = await open(true);
    const r = await ch.transmit(apdu('00CA014B00')); // 75 * 8 = 600
    expect(r.data.length).toBe(600);
    expect(sent()).toEqual(['00CA014B00', '00C0000000', '00C0000000', '00C0000058']);
  });

  it('GET RESPONSE keeps the logical channel of the command', async () => {
    const { ch, sent } = await open(true);
    await ch.transmit(new CommandApdu({ cla: 0x03, ins: 0xa4, p1: 4, p2: 0, data: TEST_AID, ne: 256 }));
    expect(sent()[1]).toBe('03C000000A');
  });

  it('extended APDU to a card without extended length: TransportError naming the case', async () => {
    const { ch, card } = await open(true);
    const err = await ch
      .transmit(new CommandApdu({ cla: 0, ins: 0xca, p1: 1, p2: 0, ne: 2048 }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/extended APDU \(case 2E.*Ne=2048\).*does not announce/);
    expect(card.log.length).toBe(0);
  });

  it('extended case 2E forced over T=0 is carried as Le=00 and chained', async () => {
    const { ch, sent } = await open(true, { extendedLength: true });
    const r = await ch.transmit(new CommandApdu({ cla: 0, ins: 0xca, p1: 1, p2: 0, ne: 2048 }));
    expect(r.data.length).toBe(2048);
    expect(sent()[0]).toBe('00CA010000');
  });
});

describe('GET RESPONSE class byte', () => {
  it.each([
    [0x00, 0x00],
    [0x03, 0x03],
    [0x0c, 0x00],
    [0x1f, 0x03],
    [0x41, 0x41],
    [0x6f, 0x4f],
    [0x80, 0x00],
    [0x83, 0x03],
  ])('CLA %i -> %i', (cla, expected) => {
    expect(getResponseCla(cla)).toBe(expected);
  });
});

describe('broken cards', () => {
  const t = new ApduTransport('T=0', ATR_T0, 'Broken');
  it('61xx forever ends with TransportError', async () => {
    const err = await t.transmit(apdu('00CA010000'), async () => fromHex('AA6101')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/61xx to 300 GET RESPONSE/);
  });
  it('6Cxx forever ends with TransportError', async () => {
    const err = await t.transmit(apdu('00B0000005'), async () => fromHex('6C05')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/keeps answering 6Cxx/);
  });
  it('a one-byte response is a TransportError, not a crash', async () => {
    const err = await t.transmit(apdu('00B0000005'), async () => fromHex('90')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/answered 1 byte\(s\) \(90\)/);
  });
  it('more than 65536 bytes through GET RESPONSE is refused', async () => {
    const chunk = concatBytes(new Uint8Array(256), fromHex('6100'));
    const err = await t.transmit(apdu('00CA010000'), async () => chunk).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/more than 65536 bytes/);
  });
});

describe('concurrent transmits', () => {
  it('are queued so that a GET RESPONSE chain is never interleaved with another command', async () => {
    const card = new TestCard({ t0: true });
    const ch = await new VirtualReader('R', card).connect();
    const [a, b] = await Promise.all([ch.transmit(apdu('00CA014B00')), ch.transmit(apdu('00CA010200'))]);
    expect(toHex(a.data)).toBe(toHex(getDataPayload(0x4b)));
    expect(toHex(b.data)).toBe(toHex(getDataPayload(2)));
    expect(card.log.map(toHex)).toEqual([
      '00CA014B00',
      '00C0000000',
      '00C0000000',
      '00C0000058',
      '00CA010200',
      '00C0000010',
    ]);
  });
});
