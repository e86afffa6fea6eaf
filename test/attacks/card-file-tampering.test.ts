/**
 * Security hole 7: card files were protected by a CRC only. Each test names an attack on a card
 * file and asserts it is refused with the one typed error, `CardFileError` (a MalformedDataError
 * of kind 'card-file') — and, where it helps to show the attack is real, that the very same edit
 * works on an unsealed lab file.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { buildCard, cardOrigin, getProfile } from '../../card/os/CardProfiles.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { deviceOf } from '../../card/applets/profiles.js';
import { readDevice, type SvmView } from '../../card/applets/inspect.js';
import { crc32 } from '../../card/store/crc32.js';
import { decodeStoreFile, encodeStoreFile } from '../../card/store/StoreFile.js';
import { fromHex } from '../../card/util/hex.js';
import {
  CardFileError,
  CardKey,
  createCardFile,
  createKeyFile,
  loadKeyFile,
  openCardFile,
  resolveCardKey,
  type CardFileProblem,
} from '../../cli/cardfile/index.js';
import { main } from '../../cli/main.js';
import { serveCardFile } from '../../cli/commands/card-serve.js';
import type { Io } from '../../cli/Command.js';
import '../../cli/commands/card.js'; // registers the purse-system profiles

const dir = mkdtempSync(join(tmpdir(), 'mp-attack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(dir, `${n++}-${name}`);

/** A key file of its own (its rollback record beside it), so tests do not share state. */
function newKey(): { key: CardKey; file: string } {
  const file = fresh('card.key');
  return { key: createKeyFile(file), file };
}

const SVM_CFG = { ...getProfile('svm').defaultConfig(), balance: 123457, max: 1_000_000 };
const svm = (): Iso7816Os => buildCard('svm', SVM_CFG);

function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function indexesOf(hay: Uint8Array, needle: ArrayLike<number>): number[] {
  const out: number[] = [];
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    out.push(i);
  }
  return out;
}

/** The SVM image with its balance (123457) rewritten to `to` wherever it is stored. */
function withBalance(image: Uint8Array, to: number): Uint8Array {
  const out = Uint8Array.from(image);
  const at = indexesOf(image, u32(SVM_CFG.balance));
  expect(at.length).toBeGreaterThan(0);
  for (const i of at) out.set(u32(to), i);
  return out;
}

/** What an editor does after changing bytes: recompute the CRC-32 so the container is valid. */
function recrc(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
  return out;
}

/**
 * CTR malleability, the textbook attack on encryption without authentication: knowing the
 * plaintext image (the layout is public: make a lab file of the same profile), XOR the wanted
 * change into the ciphertext at the same offsets. Under GCM this decrypts to exactly the forged
 * image — and the tag no longer verifies.
 */
function forgeSealed(
  sealed: Uint8Array,
  card: Iso7816Os,
  oldImage: Uint8Array,
  newImage: Uint8Array,
): Uint8Array {
  const o = cardOrigin(card)!;
  const j = new TextEncoder().encode(JSON.stringify({ profile: o.profile, config: o.config })).length;
  const { headerLength } = decodeStoreFile(sealed);
  const at = 14 + headerLength + 4 + j;
  const out = Uint8Array.from(sealed);
  for (let i = 0; i < oldImage.length; i++) out[at + i]! ^= oldImage[i]! ^ newImage[i]!;
  return recrc(out);
}

function refusal(f: () => unknown): CardFileError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CardFileError);
    expect(e).toBeInstanceOf(MalformedDataError);
    expect((e as CardFileError).kind).toBe('card-file');
    return e as CardFileError;
  }
  throw new Error('expected the card file to be refused, it was accepted');
}

function expectRefused(f: () => unknown, problem: CardFileProblem, message?: RegExp): CardFileError {
  const e = refusal(f);
  expect(e.problem).toBe(problem);
  if (message) expect(e.message).toMatch(message);
  return e;
}

function capture(): Io & { out_: () => string; err_: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => (out += t), err: (t) => (err += t), out_: () => out, err_: () => err };
}

/** Runs the CLI in process; a refused file must be exit 2 and one line on stderr, no stack. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = capture();
  const code = await main(argv, io);
  return { code, out: io.out_(), err: io.err_() };
}

/** `card show` reports as `meterpurse card:` (its command is `card`), `card serve` as itself. */
function expectOneLineRefusal(r: { code: number; err: string }, command: string): void {
  expect(r.code).toBe(2);
  const prefix = command === 'card serve' ? 'card serve' : 'card';
  expect(r.err).toMatch(new RegExp(`^meterpurse ${prefix}: cannot open card file '[^\\n]*\\n$`));
  expect(r.err).not.toMatch(/\n\s+at /);
}

describe('hole 7: card files are sealed (AES-256-GCM) under a key outside the file', () => {
  it('a balance edited with the CRC recomputed is refused (file, card show, card serve)', async () => {
    const { key, file: keyFile } = newKey();
    const path = fresh('svm.card');
    const card = svm();
    createCardFile(path, card, { key });
    const sealed = new Uint8Array(readFileSync(path));
    const image = card.store.image();
    writeFileSync(path, forgeSealed(sealed, card, image, withBalance(image, 500_000)));
    expectRefused(() => openCardFile(path, { key }), 'not-authentic', /do not verify/);
    expectOneLineRefusal(await cli('card', 'show', path, '--key-file', keyFile), 'card show');
    const serve = await cli('card', 'serve', path, '--key-file', keyFile, '--vpcd', '127.0.0.1:1');
    expectOneLineRefusal(serve, 'card serve');
    expect(serve.err).toMatch(/not-authentic/);
    // The untouched file still opens and still holds the real balance.
    writeFileSync(path, sealed);
    const back = openCardFile(path, { key });
    back.card.powerUp();
    expect((readDevice(deviceOf(back.card, 'svm').store) as SvmView).balance).toBe(123457);
  });

  it('the same balance edit on an unsealed lab file works — and is reported as unsealed', async () => {
    const path = fresh('lab-svm.card');
    const card = svm();
    expect(createCardFile(path, card, { unsealed: true })).toEqual({ sealed: false });
    const c = decodeStoreFile(new Uint8Array(readFileSync(path)));
    expect(c.header).toMatchObject({ seal: 'none', lab: expect.stringMatching(/^UNSEALED LAB FILE/) });
    writeFileSync(path, encodeStoreFile(c.header, withBalance(c.image, 500_000)));
    // Not without asking for lab mode ...
    expectRefused(() => openCardFile(path), 'unsealed', /UNSEALED lab card file/);
    // ... but on purpose, yes.
    const lab = openCardFile(path, { unsealed: true });
    expect(lab.sealed).toBe(false);
    lab.card.powerUp();
    expect((readDevice(deviceOf(lab.card, 'svm').store) as SvmView).balance).toBe(500_000);
    const shown = await cli('card', 'show', path, '--unsealed');
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('file: UNSEALED LAB FILE (--unsealed)');
    expect(shown.out).toContain('balance 5000.00 EUR'); // 500 000 euro cents, shown as money
    const json = JSON.parse((await cli('card', 'show', path, '--unsealed', '--json')).out) as {
      file: { sealed: boolean };
    };
    expect(json.file).toEqual({ sealed: false, lab: true });
    // card serve warns on stderr before serving a lab file.
    const io = capture();
    const stop = new AbortController();
    stop.abort();
    expect(
      await serveCardFile(path, {
        io,
        signal: stop.signal,
        port: 1,
        open: (p) => openCardFile(p, { unsealed: true }),
      }),
    ).toBe(0);
    expect(io.err_()).toMatch(/^card serve: WARNING: '.*' is an UNSEALED LAB card file/);
  });

  it('a sealed card replaced by an unsealed lab file (downgrade) is refused', async () => {
    const { key, file: keyFile } = newKey();
    const path = fresh('svm.card');
    const card = svm();
    createCardFile(path, card, { key });
    const o = cardOrigin(card)!;
    writeFileSync(
      path,
      encodeStoreFile(
        { format: 'meterpurse-card', profile: o.profile, config: o.config },
        withBalance(card.store.image(), 500_000),
        1,
      ),
    );
    expectRefused(() => openCardFile(path, { key }), 'unsealed', /version 1/);
    const r = await cli('card', 'serve', path, '--key-file', keyFile);
    expectOneLineRefusal(r, 'card serve');
    expect(r.err).toMatch(/card file refused \(unsealed\)/);
  });

  it('a forged journal entry is refused', () => {
    const { key } = newKey();
    const path = fresh('svm.card');
    const card = svm();
    createCardFile(path, card, { key });
    const image = card.store.image();
    const target = indexesOf(image, u32(SVM_CFG.balance))[0]!;
    // A committed journal of one entry that writes 500000 over the balance at power-up.
    const forged = Uint8Array.from(image);
    const j = card.store.dataSize;
    forged.set([0xa5, 0x00, 0x01, ...u32(target), 0x00, 0x04, ...u32(500_000)], j);
    // In a lab file the forgery is real: power-up "recovers" the journal.
    const lab = fresh('lab.card');
    createCardFile(lab, card, { unsealed: true });
    const c = decodeStoreFile(new Uint8Array(readFileSync(lab)));
    writeFileSync(lab, encodeStoreFile(c.header, forged));
    const opened = openCardFile(lab, { unsealed: true });
    opened.card.powerUp();
    expect(indexesOf(opened.card.store.image().subarray(target, target + 4), u32(500_000))).toEqual([0]);
    // Sealed: refused.
    writeFileSync(path, forgeSealed(new Uint8Array(readFileSync(path)), card, image, forged));
    expectRefused(() => openCardFile(path, { key }), 'not-authentic');
  });

  it('a purse record swapped from another sealed file is refused', () => {
    const { key } = newKey();
    const a = fresh('a.card');
    const b = fresh('b.card');
    const cardA = buildCard('subscriber', {
      ...getProfile('subscriber').defaultConfig(),
      csn: '4D50000000000A0A',
    });
    const cardB = buildCard('subscriber', {
      ...getProfile('subscriber').defaultConfig(),
      csn: '4D50000000000B0B',
    });
    createCardFile(a, cardA, { key });
    createCardFile(b, cardB, { key });
    const fa = new Uint8Array(readFileSync(a));
    const fb = new Uint8Array(readFileSync(b));
    const ca = decodeStoreFile(fa);
    const cb = decodeStoreFile(fb);
    expect(ca.image.length).toBe(cb.image.length);
    // Every 64-byte window of B's sealed body put into A at the same place.
    for (let at = 0; at + 64 <= ca.image.length; at += 256) {
      const body = Uint8Array.from(ca.image);
      body.set(cb.image.subarray(at, at + 64), at);
      writeFileSync(a, encodeStoreFile(ca.header, body));
      expectRefused(() => openCardFile(a, { key }), 'not-authentic');
    }
    // B's whole body (and its nonce) under A's header: the card id is bound (AAD and subkey).
    writeFileSync(a, encodeStoreFile({ ...ca.header, nonce: cb.header.nonce }, cb.image));
    expectRefused(() => openCardFile(a, { key }), 'not-authentic');
    // A's header re-labelled with B's card id and nonce over B's body is B's file, byte for byte:
    // authentic, but not the card last saved under A's name.
    writeFileSync(
      a,
      encodeStoreFile({ ...ca.header, cardId: cb.header.cardId, nonce: cb.header.nonce }, cb.image),
    );
    expect(Buffer.from(readFileSync(a)).equals(Buffer.from(fb))).toBe(true);
    expectRefused(() => openCardFile(a, { key }), 'swapped');
    // A's own body with its generation bumped in clear: the header is authenticated too.
    writeFileSync(a, encodeStoreFile({ ...ca.header, generation: 5 }, ca.image));
    expectRefused(() => openCardFile(a, { key }), 'not-authentic');
  });

  it("a file swapped with another card's file is refused, unless the move was on purpose", async () => {
    const { key, file: keyFile } = newKey();
    const a = fresh('a.card');
    const b = fresh('b.card');
    createCardFile(a, svm(), { key });
    createCardFile(b, buildCard('svm', { ...SVM_CFG, meterId: '000456' }), { key });
    const fa = readFileSync(a);
    const fb = readFileSync(b);
    writeFileSync(a, fb);
    writeFileSync(b, fa);
    expectRefused(() => openCardFile(a, { key }), 'swapped', /was last saved under this name/);
    const r = await cli('card', 'show', b, '--key-file', keyFile);
    expectOneLineRefusal(r, 'card show');
    expect(r.err).toMatch(/--moved/);
    // Said on purpose: accepted, and it is card B's content under A's name.
    const moved = openCardFile(a, { key, moved: true });
    expect(cardOrigin(moved.card)!.config['meterId']).toBe('000456');
  });

  it('a rolled-back copy is refused (file, card show, card serve)', async () => {
    const { key, file: keyFile } = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key });
    const old = readFileSync(path);
    const h = openCardFile(path, { key });
    expect(h.generation).toBe(0);
    h.save();
    h.save();
    expect(h.generation).toBe(2);
    expect(openCardFile(path, { key }).generation).toBe(2);
    writeFileSync(path, old);
    expectRefused(() => openCardFile(path, { key }), 'rolled-back', /generation 0 .* generation 2 was saved/);
    // A copy under another name is the same card: its age gives it away too.
    const copy = fresh('copy.card');
    writeFileSync(copy, old);
    expectRefused(() => openCardFile(copy, { key }), 'rolled-back');
    for (const cmd of ['show', 'serve']) {
      const r = await cli('card', cmd, path, '--key-file', keyFile);
      expectOneLineRefusal(r, `card ${cmd}`);
      expect(r.err).toMatch(/refused \(rolled-back\)/);
    }
  });

  it('two copies used in parallel are refused: a conflicting save, then a forked copy', () => {
    const { key } = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key });
    const first = openCardFile(path, { key });
    const second = openCardFile(path, { key });
    first.save();
    expectRefused(() => second.save(), 'conflict', /after this process opened generation 0/);
    // A copy saved without the rollback record (another machine) then brought back.
    const elsewhere = fresh('elsewhere.card');
    writeFileSync(elsewhere, readFileSync(path));
    const e = openCardFile(elsewhere, { key, rollback: false });
    first.save(); // generation 2 here
    e.save(); // generation 2 there, other contents
    expectRefused(() => openCardFile(elsewhere, { key }), 'forked', /two copies/);
  });

  it('keys are not readable in the file bytes (SAM: MK_auth, MK_debit; subscriber: card keys)', () => {
    const { key } = newKey();
    for (const profile of ['sam', 'subscriber'] as const) {
      const card = buildCard(profile, {
        ...getProfile(profile).defaultConfig(),
        demoIssuerSeed: 'hole-7-seed',
      });
      const sealedPath = fresh(`${profile}.card`);
      const labPath = fresh(`${profile}-lab.card`);
      createCardFile(sealedPath, card, { key });
      createCardFile(labPath, card, { unsealed: true });
      const sealed = new Uint8Array(readFileSync(sealedPath));
      const lab = new Uint8Array(readFileSync(labPath));
      // Every 16-byte run of the persistent image that is not blank: keys are among them.
      const image = card.store.image();
      const runs: Uint8Array[] = [];
      for (let i = 0; i + 16 <= image.length; i += 16) {
        const run = image.subarray(i, i + 16);
        if (new Set(run).size >= 8) runs.push(run);
      }
      expect(runs.length).toBeGreaterThan(4);
      for (const run of runs) {
        expect(indexesOf(lab, run).length).toBeGreaterThan(0); // the lab file holds them in clear
        expect(indexesOf(sealed, run)).toEqual([]);
      }
      const seed = new TextEncoder().encode('hole-7-seed');
      expect(indexesOf(lab, seed).length).toBeGreaterThan(0);
      expect(indexesOf(sealed, seed)).toEqual([]);
    }
  });

  it('a file sealed under another key is refused as wrong-key; a missing key is a key error', async () => {
    const a = newKey();
    const b = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key: a.key });
    expectRefused(
      () => openCardFile(path, { key: b.key }),
      'wrong-key',
      new RegExp(`sealed under card key ${a.key.keyId}`),
    );
    expectRefused(() => openCardFile(path, { keyFile: join(dir, 'nowhere.key') }), 'key', /does not exist/);
    const r = await cli('card', 'show', path, '--key-file', b.file);
    expectOneLineRefusal(r, 'card show');
    expect(r.err).toMatch(/wrong-key/);
  });

  it('a damaged rollback record is refused, not silently ignored', () => {
    const { key, file } = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key });
    writeFileSync(`${file}.state`, '{"format":"meterpurse-card-state"');
    expectRefused(() => openCardFile(path, { key }), 'state', /not JSON/);
  });

  it('every byte flip is refused with one typed error', () => {
    const { key } = newKey();
    const path = fresh('sam.card');
    createCardFile(path, buildCard('sam', getProfile('sam').defaultConfig()), { key });
    const good = new Uint8Array(readFileSync(path));
    const problems = new Set<string>();
    for (let i = 0; i < good.length; i++) {
      for (const crc of [false, true]) {
        const bad = Uint8Array.from(good);
        bad[i]! ^= 1 << (i % 8);
        writeFileSync(path, crc && i < good.length - 4 ? recrc(bad) : bad);
        problems.add(refusal(() => openCardFile(path, { key })).problem);
      }
    }
    expect([...problems].sort()).toEqual(['damaged', 'not-authentic', 'wrong-key']);
    writeFileSync(path, good);
    expect(openCardFile(path, { key }).sealed).toBe(true);
  });

  it('random flips, truncations and header JSON edits are refused with one typed error', () => {
    const { key } = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key });
    const good = new Uint8Array(readFileSync(path));
    const { header, image } = decodeStoreFile(good);
    const flips = fc
      .array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .chain((edits) =>
        fc.boolean().map((fixCrc) => {
          const b = Uint8Array.from(good);
          for (const [at, x] of edits) b[at]! ^= x;
          return fixCrc ? recrc(b) : b;
        }),
      );
    const truncations = fc.nat(good.length - 1).map((cut) => good.slice(0, cut));
    const headerEdits = fc
      .tuple(
        fc.constantFrom(...Object.keys(header), 'profile', 'config', 'lab'),
        fc.jsonValue(),
        fc.boolean(),
      )
      .map(([k, v, drop]) => {
        const h: Record<string, unknown> = { ...header };
        if (drop) delete h[k];
        else h[k] = v;
        return encodeStoreFile(h, image);
      });
    fc.assert(
      fc.property(fc.oneof(flips, truncations, headerEdits), (bytes) => {
        fc.pre(Buffer.compare(Buffer.from(bytes), Buffer.from(good)) !== 0);
        writeFileSync(path, bytes);
        refusal(() => openCardFile(path, { key }));
      }),
      { numRuns: 1500, seed: 7 },
    );
  });

  it('card show and card serve answer every mutated file with exit 2 and one line', async () => {
    const { key, file: keyFile } = newKey();
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key });
    const good = new Uint8Array(readFileSync(path));
    const { header, image } = decodeStoreFile(good);
    const mutated = fc.oneof(
      fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
        const b = Uint8Array.from(good);
        b[at]! ^= x;
        return recrc(b);
      }),
      fc.nat(good.length - 1).map((cut) => good.slice(0, cut)),
      fc
        .tuple(fc.constantFrom(...Object.keys(header)), fc.jsonValue())
        .map(([k, v]) => encodeStoreFile({ ...header, [k]: v }, image)),
    );
    await fc.assert(
      fc.asyncProperty(mutated, fc.constantFrom('show', 'serve'), async (bytes, cmd) => {
        fc.pre(Buffer.compare(Buffer.from(bytes), Buffer.from(good)) !== 0);
        writeFileSync(path, bytes);
        expectOneLineRefusal(await cli('card', cmd, path, '--key-file', keyFile), `card ${cmd}`);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('card show --unsealed never crashes on a lab file with edited header JSON (exit 0, or 2 and one line)', async () => {
    const path = fresh('lab.card');
    for (const profile of ['svm', 'sam', 'subscriber']) {
      createCardFile(path, buildCard(profile, getProfile(profile).defaultConfig()), { unsealed: true });
      const { header, image } = decodeStoreFile(new Uint8Array(readFileSync(path)));
      const config = header.config as Record<string, unknown>;
      const edits = fc.oneof(
        fc
          .tuple(fc.constantFrom(...Object.keys(config), 'purses', 'pin', 'max', 'balance'), fc.jsonValue())
          .map(([k, v]) => ({ ...header, config: { ...config, [k]: v } })),
        fc.tuple(fc.constantFrom('profile', 'config', 'format', 'seal'), fc.jsonValue()).map(([k, v]) => ({
          ...header,
          [k]: v,
        })),
      );
      await fc.assert(
        fc.asyncProperty(edits, async (h) => {
          writeFileSync(path, encodeStoreFile(h, image));
          const r = await cli('card', 'show', path, '--unsealed');
          if (r.code === 0) return;
          expect(r.code).toBe(2);
          expect(r.err).toMatch(/^meterpurse card: [^\n]*\n$/);
        }),
        { numRuns: 150, seed: 3 },
      );
    }
  });
});

describe('hole 7: where the card key lives', () => {
  it('card new makes the key on first use, mode 0600, in the config directory, not beside the card', async () => {
    const config = fresh('config');
    const saved = process.env.MP_CONFIG_DIR;
    process.env.MP_CONFIG_DIR = config;
    try {
      const cards = fresh('cards');
      const f = join(cards, 'sam.card');
      rmSync(cards, { recursive: true, force: true });
      (await import('node:fs')).mkdirSync(cards);
      const first = await cli('card', 'new', '--profile', 'sam', '--out', f);
      expect(first.code).toBe(0);
      const keyFile = join(config, 'card.key');
      expect(first.out).toContain(`created card key file ${keyFile} (mode 0600`);
      expect(first.out).toMatch(/sealed \(AES-256-GCM\) under card key [0-9a-f]{16} from key file/);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(statSync(config).mode & 0o077).toBe(0);
      expect(existsSync(`${f}.key`)).toBe(false);
      const second = await cli('card', 'new', '--profile', 'svm', '--out', join(cards, 'svm.card'));
      expect(second.out).not.toContain('created card key file');
      const key = loadKeyFile(keyFile);
      expect(first.out).toContain(key.keyId);
      expect(second.out).toContain(key.keyId);
      expect((await cli('card', 'show', f)).out).toContain(`under card key ${key.keyId}`);
      // The key file's bytes are not in the card file.
      const hexKey = readFileSync(keyFile, 'utf8').trim().split('\n').pop()!;
      expect(indexesOf(new Uint8Array(readFileSync(f)), fromHex(hexKey))).toEqual([]);
      // A key file others can read is refused, as ssh refuses such a private key.
      chmodSync(keyFile, 0o644);
      const loose = await cli('card', 'show', f);
      expectOneLineRefusal(loose, 'card show');
      expect(loose.err).toMatch(/readable or writable by others .*chmod 600/);
      chmodSync(keyFile, 0o600);
    } finally {
      process.env.MP_CONFIG_DIR = saved;
    }
  });

  it('MP_CARD_KEY (64 hex digits) and --key-file choose the key; MP_CARD_KEY wins over the default file', async () => {
    const hex = 'a1'.repeat(32);
    const env = { MP_CARD_KEY: hex, MP_CONFIG_DIR: fresh('cfg') };
    const k = resolveCardKey({ env });
    expect(k.source).toBe('MP_CARD_KEY');
    expect(k.statePath).toBe(join(env.MP_CONFIG_DIR, `card-key-${k.keyId}.state`));
    expect(() => resolveCardKey({ env: { MP_CARD_KEY: 'abc' } })).toThrow(/64 hex digits/);
    const path = fresh('svm.card');
    createCardFile(path, svm(), { key: k });
    process.env.MP_CARD_KEY = hex;
    try {
      expect((await cli('card', 'show', path)).code).toBe(0);
    } finally {
      delete process.env.MP_CARD_KEY;
    }
    expectOneLineRefusal(await cli('card', 'show', path), 'card show'); // the default key is another
    const { file } = newKey();
    const other = fresh('svm2.card');
    expect((await cli('card', 'new', '--profile', 'svm', '--out', other, '--key-file', file)).code).toBe(0);
    expect((await cli('card', 'show', other, '--key-file', file)).code).toBe(0);
  });

  it('a key file in the same folder as the card is warned about (it would defeat the seal)', async () => {
    const folder = fresh('shared');
    (await import('node:fs')).mkdirSync(folder);
    const beside = await cli(
      'card',
      'new',
      '--profile',
      'sam',
      '--out',
      join(folder, 'a.card'),
      '--key-file',
      join(folder, 'a.card.key'),
    );
    expect(beside.code).toBe(0);
    expect(beside.err).toMatch(/^card: WARNING: the card key .*a\.card\.key is in the same folder as/);
    const { file } = newKey();
    const apart = await cli(
      'card',
      'new',
      '--profile',
      'sam',
      '--out',
      join(folder, 'b.card'),
      '--key-file',
      file,
    );
    expect(apart.err).toBe('');
  });

  it('trace replay --card takes a lab file only with --unsealed', async () => {
    const ref = join(import.meta.dirname, '../../apdu-traces/iso-fs-basic.trace');
    const lab = fresh('iso-lab.card');
    createCardFile(lab, buildCard('iso-fs'), { unsealed: true });
    const refused = await cli('trace', 'replay', ref, '--card', lab);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/card file refused \(unsealed\)/);
    expect((await cli('trace', 'replay', ref, '--card', lab, '--unsealed')).code).toBe(0);
    expect((await cli('trace', 'replay', ref, '--profile', 'iso-fs', '--unsealed')).code).toBe(2);
  });

  it('card unseal makes an editable lab copy; card seal makes a lab file a sealed card again', async () => {
    const { file } = newKey();
    const sealed = fresh('svm.card');
    const lab = fresh('svm-lab.card');
    const resealed = fresh('svm-resealed.card');
    expect((await cli('card', 'new', '--profile', 'svm', '--out', sealed, '--key-file', file)).code).toBe(0);
    const u = await cli('card', 'unseal', sealed, '--out', lab, '--key-file', file);
    expect(u.out).toMatch(/UNSEALED LAB copy/);
    expect(decodeStoreFile(new Uint8Array(readFileSync(lab))).header['seal']).toBe('none');
    const s = await cli('card', 'seal', lab, '--out', resealed, '--key-file', file);
    expect(s.code).toBe(0);
    const r = openCardFile(resealed, { keyFile: file });
    expect(r.sealed).toBe(true);
    expect(r.cardId).not.toBe(openCardFile(sealed, { keyFile: file }).cardId);
  });
});
