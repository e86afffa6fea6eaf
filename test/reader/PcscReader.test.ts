/**
 * PcscContext / PcscReader / PcscChannel against a scripted stand-in for the `pcsclite` addon,
 * so the error mapping, buffer sizing and reconnect logic are tested without pcscd (the real
 * thing is tested in test/pcsc/).
 */
import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { CardChannelError } from '../../reader/CardChannel.js';
import { PCSC_RECEIVE_BUFFER } from '../../reader/PcscChannel.js';
import { PcscContext, listPcscReaders } from '../../reader/PcscContext.js';
import {
  CardRemovedError,
  CardTimeoutError,
  NoCardError,
  PcscNotInstalledError,
  ReaderUnavailableError,
  UnknownReaderError,
} from '../../reader/errors.js';
import {
  INSTALL_HINT,
  SCARD,
  loadPcsclite,
  pcscError,
  type AddonContext,
} from '../../reader/internal/pcscAddon.js';
import { ATR_T1_EXTENDED, TestCard } from './TestCard.js';

const C = {
  SCARD_SHARE_SHARED: 2,
  SCARD_SHARE_EXCLUSIVE: 1,
  SCARD_PROTOCOL_T0: 1,
  SCARD_PROTOCOL_T1: 2,
  SCARD_STATE_EMPTY: 0x10,
  SCARD_STATE_PRESENT: 0x20,
  SCARD_STATE_MUTE: 0x200,
  SCARD_STATE_UNAVAILABLE: 0x08,
  SCARD_LEAVE_CARD: 0,
  SCARD_RESET_CARD: 1,
  SCARD_UNPOWER_CARD: 2,
};

const pcscErr = (fn: string, code: number) =>
  new Error(`${fn} error: something.(0x${code.toString(16).padStart(8, '0')})`);

/** A reader of the fake addon, backed by a TestCard and scriptable failures. */
class FakeReader extends EventEmitter {
  connected = false;
  card: TestCard | undefined;
  transmitLens: number[] = [];
  failConnect: Error[] = [];
  failTransmit: Error | undefined;
  hang = false;
  dispositions: number[] = [];
  constructor(readonly name: string) {
    super();
    Object.assign(this, C);
  }
  status(card: TestCard | undefined): void {
    this.card = card;
    this.emit(
      'status',
      card ? { state: C.SCARD_STATE_PRESENT, atr: Buffer.from(card.atr) } : { state: C.SCARD_STATE_EMPTY },
    );
  }
  connect(_o: unknown, cb: (e: Error | null, p: number) => void): void {
    const f = this.failConnect.shift();
    if (f) {
      setImmediate(() => cb(f, 0));
      return;
    }
    if (!this.card) {
      setImmediate(() => cb(pcscErr('SCardConnect', SCARD.E_NO_SMARTCARD), 0));
      return;
    }
    this.connected = true;
    this.card.powerUp();
    setImmediate(() => cb(null, C.SCARD_PROTOCOL_T1));
  }
  disconnect(d: number, cb: (e: Error | null) => void): void {
    this.dispositions.push(d);
    this.connected = false;
    setImmediate(() => cb(null));
  }
  transmit(data: Buffer, len: number, _p: number, cb: (e: Error | null, r: Buffer) => void): void {
    this.transmitLens.push(len);
    if (this.hang) return;
    if (this.failTransmit) {
      const f = this.failTransmit;
      setImmediate(() => cb(f, Buffer.alloc(0)));
      return;
    }
    const r = this.card!.transmit(new Uint8Array(data));
    setImmediate(() => cb(null, Buffer.from(r)));
  }
  close(): void {}
}

function fakeAddon(names: string[]): { load: () => () => AddonContext; readers: Map<string, FakeReader> } {
  const readers = new Map<string, FakeReader>();
  const load = () => () => {
    const ctx = new EventEmitter() as EventEmitter & AddonContext;
    ctx.close = () => {};
    ctx.start = (cb) => {
      for (const n of names) {
        const r = new FakeReader(n);
        readers.set(n, r);
        ctx.emit('reader', r);
        r.status(undefined);
      }
      cb(null, Buffer.alloc(0));
    };
    process.nextTick(() => ctx.start!(() => {}));
    return ctx;
  };
  return { load, readers };
}

const SELECT = CommandApdu.decode(fromHex('00A4040007F04D505445535400'));

describe('PC/SC backend over a scripted addon', () => {
  it('missing addon: PcscNotInstalledError saying what to install', () => {
    const err = (() => {
      try {
        loadPcsclite('pcsclite-that-is-not-installed');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PcscNotInstalledError);
    expect((err as Error).message).toContain('apt-get install libpcsclite-dev pcscd');
    expect((err as Error).message).toContain('npm install pcsclite');
    expect(INSTALL_HINT).toMatch(/optional dependency 'pcsclite'/);
  });

  it('pcscd not running: ReaderUnavailableError', async () => {
    const load = () => () => {
      throw pcscErr('SCardEstablishContext', SCARD.E_NO_SERVICE);
    };
    const err = await PcscContext.open({ loadAddon: load }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReaderUnavailableError);
    expect((err as Error).message).toMatch(/PC\/SC service is not running: start pcscd/);
  });

  it('lists readers; unknown name gives UnknownReaderError with the list', async () => {
    const { load } = fakeAddon(['Reader A', 'Reader B']);
    expect(await listPcscReaders({ loadAddon: load })).toEqual(['Reader A', 'Reader B']);
    const ctx = await PcscContext.open({ loadAddon: load });
    expect(() => ctx.reader('Reader C')).toThrow(UnknownReaderError);
    expect(() => ctx.reader('Reader C')).toThrow(
      "no reader named 'Reader C'; available: 'Reader A', 'Reader B'",
    );
    ctx.close();
    expect(() => ctx.reader('Reader A')).toThrow(ReaderUnavailableError);
  });

  it('connect, transmit with a 65538-byte receive buffer, Buffer never leaks out', async () => {
    const { load, readers } = fakeAddon(['R']);
    const ctx = await PcscContext.open({ loadAddon: load });
    const reader = ctx.reader('R');
    await expect(reader.connect()).rejects.toBeInstanceOf(NoCardError);
    const card = new TestCard();
    readers.get('R')!.status(card);
    expect(toHex(await reader.waitForCard(100))).toBe(toHex(ATR_T1_EXTENDED));
    const ch = await reader.connect();
    expect(ch.protocol).toBe('T=1');
    const r = await ch.transmit(SELECT);
    expect(r.sw).toBe(0x9000);
    expect(Buffer.isBuffer(r.data)).toBe(false);
    expect(Buffer.isBuffer(ch.atr)).toBe(false);
    expect(PCSC_RECEIVE_BUFFER).toBeGreaterThanOrEqual(65538);
    expect(readers.get('R')!.transmitLens).toEqual([PCSC_RECEIVE_BUFFER]);
    // One card handle per reader in the addon: a second live channel is refused, not stolen.
    await expect(reader.connect()).rejects.toThrow(/already has an open channel in this process/);
    expect((await ch.transmit(SELECT)).sw).toBe(0x9000);
    await ch.disconnect();
    expect(readers.get('R')!.dispositions).toEqual([C.SCARD_UNPOWER_CARD]);
    ctx.close();
  });

  it('removal: the channel dies with CardRemovedError; after re-insertion connect works again', async () => {
    const { load, readers } = fakeAddon(['R']);
    const ctx = await PcscContext.open({ loadAddon: load });
    const reader = ctx.reader('R');
    const fake = readers.get('R')!;
    fake.status(new TestCard());
    const ch = await reader.connect();
    fake.failTransmit = pcscErr('SCardTransmit', SCARD.W_REMOVED_CARD);
    const err = await ch.transmit(SELECT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardRemovedError);
    expect((err as Error).message).toMatch(/transmit on PC\/SC reader 'R': the card was removed/);
    fake.status(undefined);
    await reader.waitForRemoval(100);
    fake.failTransmit = undefined;
    // The addon still thinks it is connected; connect() must clear that first.
    expect(fake.connected).toBe(true);
    fake.status(new TestCard());
    const again = await reader.connect();
    expect((await again.transmit(SELECT)).sw).toBe(0x9000);
    await expect(ch.transmit(SELECT)).rejects.toBeInstanceOf(CardRemovedError);
    // The dead channel's disconnect must not end the new connection.
    await ch.disconnect();
    expect((await again.transmit(SELECT)).sw).toBe(0x9000);
    ctx.close();
  });

  it('a card pcscd has not powered yet is retried; a mute card ends in CardRemovedError', async () => {
    const { load, readers } = fakeAddon(['R']);
    const ctx = await PcscContext.open({ loadAddon: load });
    const fake = readers.get('R')!;
    fake.status(new TestCard());
    fake.failConnect = [pcscErr('SCardConnect', SCARD.W_UNPOWERED_CARD)];
    expect((await (await ctx.reader('R').connect()).transmit(SELECT)).sw).toBe(0x9000);
    fake.connected = false;
    fake.failConnect = Array(20).fill(pcscErr('SCardConnect', SCARD.W_UNRESPONSIVE_CARD));
    await expect(ctx.reader('R').connect()).rejects.toThrow(/does not answer \(mute or unpowered\)/);
    ctx.close();
  });

  it('a transmit that never returns times out with CardTimeoutError', async () => {
    const { load, readers } = fakeAddon(['R']);
    const ctx = await PcscContext.open({ loadAddon: load, timeoutMs: 50 });
    readers.get('R')!.status(new TestCard());
    const ch = await ctx.reader('R').connect();
    readers.get('R')!.hang = true;
    const err = await ch.transmit(SELECT).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardTimeoutError);
    expect((err as Error).message).toBe("transmit timed out after 50 ms on 'R'");
    ctx.close();
  });

  it('the reader leaving the system makes waits and channels fail with ReaderUnavailableError', async () => {
    const { load, readers } = fakeAddon(['R']);
    const ctx = await PcscContext.open({ loadAddon: load });
    const reader = ctx.reader('R');
    const waiting = reader.waitForCard(1000);
    readers.get('R')!.emit('end');
    await expect(waiting).rejects.toBeInstanceOf(ReaderUnavailableError);
    expect(() => ctx.reader('R')).toThrow(UnknownReaderError);
    await expect(reader.connect()).rejects.toThrow(/unavailable: the reader was removed from the system/);
    ctx.close();
  });

  it.each([
    [SCARD.W_REMOVED_CARD, CardRemovedError, /card was removed/],
    [SCARD.E_NO_SMARTCARD, NoCardError, /no card in the reader/],
    [SCARD.E_NOT_TRANSACTED, CardRemovedError, /exchange broke off/],
    [SCARD.E_READER_UNAVAILABLE, ReaderUnavailableError, /reader is gone/],
    [SCARD.E_NO_SERVICE, ReaderUnavailableError, /pcscd\) is not running/],
    [SCARD.E_TIMEOUT, CardTimeoutError, /SCARD_E_TIMEOUT/],
    [SCARD.E_SHARING_VIOLATION, CardChannelError, /held exclusively/],
    [0x80100001, CardChannelError, /failed: SCardX error/],
  ])('PC/SC code %s maps to a typed error', (code, type, message) => {
    const e = pcscError(pcscErr('SCardX', code), 'transmit', 'R');
    expect(e).toBeInstanceOf(type);
    expect(e.message).toMatch(message);
    expect(e.readerName).toBe('R');
  });
});
