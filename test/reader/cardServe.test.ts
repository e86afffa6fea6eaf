import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../../card/util/hex.js';
import type { Io } from '../../cli/Command.js';
import { UsageError } from '../../cli/Command.js';
import { main } from '../../cli/main.js';
import {
  cardServeCommand,
  parseVpcdAddress,
  serveCardFile,
  type CardFileHandle,
} from '../../cli/commands/card-serve.js';
import { FakeVpcd } from './FakeVpcd.js';
import { createCardFile, openCardFile } from '../../cli/cardfile/index.js';
import { DEMO_AID, buildCard, getProfile } from '../../card/os/CardProfiles.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { TEST_AID, TEST_FILE, TestCard } from './TestCard.js';

/** A card file for these tests: the TestCard's transparent file as hex, saved by rename. */
function openTestFile(path: string): CardFileHandle & { saves: number } {
  const card = new TestCard();
  card.file = fromHex(readFileSync(path, 'utf8'));
  const handle = {
    card,
    saves: 0,
    save() {
      writeFileSync(path + '.tmp', toHex(card.file));
      rmSync(path);
      writeFileSync(path, toHex(card.file));
      rmSync(path + '.tmp');
      handle.saves++;
    },
  };
  return handle;
}

function capture(): Io & { text: () => string; errors: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => (out += t), err: (t) => (err += t), text: () => out, errors: () => err };
}

let dir: string;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
  rmSync(dir, { recursive: true, force: true });
});

async function serve(open: (p: string) => CardFileHandle) {
  dir = mkdtempSync(join(tmpdir(), 'mp-serve-'));
  const file = join(dir, 'card.hex');
  writeFileSync(file, toHex(TEST_FILE));
  const vpcd = new FakeVpcd();
  const port = await vpcd.listen();
  cleanup.push(() => vpcd.close());
  const io = capture();
  const stop = new AbortController();
  let connected!: () => void;
  const up = new Promise<void>((r) => (connected = r));
  const done = serveCardFile(file, { port, io, signal: stop.signal, open, onConnected: connected });
  await up;
  await vpcd.connection();
  return { file, vpcd, io, stop, done };
}

describe('meterpurse card serve', () => {
  it('prints one line when connected, serves the card and saves each change to the file', async () => {
    let handle!: ReturnType<typeof openTestFile>;
    const { file, vpcd, io, stop, done } = await serve((p) => (handle = openTestFile(p)));
    expect(io.text()).toMatch(
      /^serving .*card\.hex \(ATR 3B85018073000040\w\w\) to vpcd at 127\.0\.0\.1:\d+\n$/,
    );
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange('00A4040007' + toHex(TEST_AID))).toBe('9000');
    expect(await vpcd.exchange('00D6000002CAFE')).toBe('9000');
    expect(readFileSync(file, 'utf8').slice(0, 4)).toBe('CAFE');
    stop.abort();
    expect(await done).toBe(0);
    expect(handle.card.powered).toBe(false);
    expect(handle.saves).toBeGreaterThanOrEqual(3);
    expect(io.errors()).toBe('');
  });

  it('a runtime that reports dirty=false is not saved after reads, but is on exit', async () => {
    let handle!: ReturnType<typeof openTestFile>;
    const { vpcd, stop, done } = await serve((p) => {
      handle = openTestFile(p);
      return Object.assign(handle, { dirty: false });
    });
    vpcd.send(Uint8Array.of(0x01));
    await vpcd.exchange('00A4040007' + toHex(TEST_AID));
    expect(handle.saves).toBe(0);
    stop.abort();
    await done;
    expect(handle.saves).toBeGreaterThan(0);
  });

  it('a failing save is reported and the exit status is 1; the card keeps serving', async () => {
    const { vpcd, io, stop, done } = await serve((p) => {
      const h = openTestFile(p);
      return {
        card: h.card,
        save: () => {
          throw new Error('disk full');
        },
      };
    });
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange('00A4040007' + toHex(TEST_AID))).toBe('9000');
    stop.abort();
    expect(await done).toBe(1);
    expect(io.errors()).toMatch(/saving '.*card\.hex' after command 00A40400 failed: disk full/);
  });

  it('bad arguments are usage errors (exit 2 through main)', async () => {
    await expect(cardServeCommand.run([], capture())).rejects.toBeInstanceOf(UsageError);
    await expect(cardServeCommand.run(['a', 'b'], capture())).rejects.toThrow(/one card file only/);
    await expect(cardServeCommand.run(['a', '--bogus'], capture())).rejects.toThrow(
      /unknown option '--bogus'/,
    );
    const io = capture();
    expect(await main(['card', 'serve', 'x.card', '--vpcd', 'localhost'], io)).toBe(2);
    expect(io.errors()).toMatch(/--vpcd wants host:port/);
  });

  it('a card file that cannot be opened is a usage error naming the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-serve-'));
    const io = capture();
    const err = await serveCardFile(join(dir, 'missing.card'), {
      io,
      signal: new AbortController().signal,
      open: (p) => openTestFile(p),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/cannot open card file '.*missing\.card': ENOENT/);
  });

  it('serves a real card file (iso-fs profile): a PIN-protected update is on disk before the answer', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-serve-'));
    const file = join(dir, 'demo.card');
    createCardFile(file, buildCard('iso-fs', getProfile('iso-fs').defaultConfig()));
    const vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    cleanup.push(() => vpcd.close());
    const io = capture();
    const stop = new AbortController();
    let connected!: () => void;
    const up = new Promise<void>((r) => (connected = r));
    const done = serveCardFile(file, { port, io, signal: stop.signal, onConnected: connected });
    await up;
    await vpcd.connection();
    vpcd.send(Uint8Array.of(0x01));
    expect(await vpcd.exchange('00A4040C08' + DEMO_AID)).toBe('9000');
    expect(await vpcd.exchange('00D6810004CAFEBABE')).toBe('6982');
    expect(await vpcd.exchange('002000810831323334FFFFFFFF')).toBe('9000');
    expect(await vpcd.exchange('00D6810004CAFEBABE')).toBe('9000');
    // Still serving: the file on disk already holds the update.
    const onDisk = await new VirtualReader('check', openCardFile(file).card).connect();
    await onDisk.transmit(CommandApdu.decode(fromHex('00A4040C08' + DEMO_AID)));
    expect(toHex((await onDisk.transmit(CommandApdu.decode(fromHex('00B0810004')))).encode())).toBe(
      'CAFEBABE9000',
    );
    stop.abort();
    expect(await done).toBe(0);
    expect(io.errors()).toBe('');
  });

  it('a damaged card file is a usage error naming the file and the damage', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-serve-'));
    const file = join(dir, 'bad.card');
    writeFileSync(file, 'not a card file at all');
    const io = capture();
    expect(await main(['card', 'serve', file], io)).toBe(2);
    expect(io.errors()).toMatch(/cannot open card file '.*bad\.card': malformed/);
  });

  it('parses vpcd addresses', () => {
    expect(parseVpcdAddress('127.0.0.1:35963')).toEqual({ host: '127.0.0.1', port: 35963 });
    expect(parseVpcdAddress('[::1]:35964')).toEqual({ host: '::1', port: 35964 });
    expect(() => parseVpcdAddress('host:99999')).toThrow(UsageError);
    expect(() => parseVpcdAddress(':1')).toThrow(UsageError);
  });
});
