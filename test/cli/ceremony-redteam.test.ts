/**
 * Red team of the key ceremony (`keys ceremony load / import`, issue 12), in process: a component
 * file of another slot set, three custodians where the manifest says two, components of two
 * ceremonies mixed, a manifest edited to match a wrong component (the MKC's own check of the
 * combined KCV at SEAL), an import with a wrong KCV. Each is refused with the slot named, the
 * MKC left unloaded, and no component in the output.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { createCardFile, openCardFile } from '../../cli/cardfile/index.js';
import { NodeCipherProvider, SeededRng, fromHex, kcv, makeMasterKeyCard, toHex } from '../../card/index.js';
import { VirtualReader } from '../../reader/index.js';
import {
  MasterKeyCard,
  ceremonySlots,
  combinedKcv,
  encodeComponentFile,
  encodeManifest,
  generateComponents,
  type ComponentFile,
  type Manifest,
} from '../../terminal/index.js';

const PIN = '2468';
const cipher = new NodeCipherProvider();
const dir = mkdtempSync(join(tmpdir(), 'mp-ceremony-rt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function ceremony(seed: string, utilities = [1], custodians: 2 | 3 = 2) {
  return generateComponents(new SeededRng(seed), cipher, ceremonySlots(utilities, 1, 1), custodians);
}

/** Writes the files of a load attempt and a fresh unloaded MKC; runs `keys ceremony load`. */
async function load(files: ComponentFile[], manifest: Manifest | string) {
  const d = join(dir, `t${++n}`);
  const keyFile = join(dir, 'card.key');
  const mkcPath = `${d}-mkc.card`;
  const device = makeMasterKeyCard({ serial: fromHex('4D4B430000000009'), pin: PIN, cipher });
  createCardFile(mkcPath, device.os, { keyFile });
  const paths = files.map((f, i) => {
    const p = `${d}-c${i + 1}.json`;
    writeFileSync(p, encodeComponentFile(f), { mode: 0o600 });
    return p;
  });
  const manifestPath = `${d}-manifest.json`;
  writeFileSync(manifestPath, typeof manifest === 'string' ? manifest : encodeManifest(manifest));
  const pinFile = `${d}-pin`;
  writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const status = await main(
    [
      'keys',
      'ceremony',
      'load',
      '--mkc',
      mkcPath,
      '--pin-file',
      pinFile,
      '--manifest',
      manifestPath,
      '--key-file',
      keyFile,
      '--components',
      ...paths,
    ],
    io,
  );
  const opened = openCardFile(mkcPath, { keyFile, rollback: false });
  const mkc = await MasterKeyCard.open(await new VirtualReader('x', opened.card).connect());
  const st = await mkc.status();
  return { status, out, err, sealed: st.sealed, loadedSlots: st.slots.length };
}

/** No component of `files` (hex, either case) in `text`. */
function noComponent(text: string, ...sets: ComponentFile[][]) {
  for (const files of sets)
    for (const f of files)
      for (const c of f.components) {
        expect(text.toUpperCase()).not.toContain(toHex(c.component).toUpperCase());
      }
  expect(text).not.toMatch(/[0-9A-Fa-f]{32}/);
}

describe('keys ceremony red team', () => {
  it('the honest ceremony loads and seals (the baseline)', async () => {
    const { files, manifest } = ceremony('a');
    const r = await load(files, manifest);
    expect(r.err).toBe('');
    expect([r.status, r.sealed]).toEqual([0, true]);
    noComponent(r.out + r.err, files);
  });

  it('a component file of another slot set: refused naming the slot, nothing loaded', async () => {
    const a = ceremony('a', [1]);
    const b = ceremony('a', [2]);
    const r = await load([a.files[0]!, b.files[1]!], a.manifest);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/custodian 2's file has slot .*which the manifest does not list/);
    expect([r.sealed, r.loadedSlots]).toEqual([false, 0]);
  });

  it('three custodians where the manifest says two: refused', async () => {
    const two = ceremony('a', [1], 2);
    const three = ceremony('b', [1], 3);
    const r = await load(three.files, two.manifest);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/custodian 1's file is one of 3, the manifest has 2/);
    const extra = await load([...two.files, two.files[1]!], two.manifest);
    expect(extra.status).toBe(2);
    expect(extra.err).toMatch(/two files of custodian 2/);
    expect(extra.sealed).toBe(false);
  });

  it('components of two ceremonies mixed: KCV mismatch, exit 65, slot named, nothing loaded', async () => {
    const a = ceremony('a');
    const b = ceremony('b');
    const r = await load([a.files[0]!, b.files[1]!], a.manifest);
    expect(r.status).toBe(65);
    expect(r.err).toMatch(/KCV mismatch, nothing loaded: slot 01 .*custodian 2's component has KCV/);
    expect([r.sealed, r.loadedSlots]).toEqual([false, 0]);
    noComponent(r.out + r.err, a.files, b.files);
  });

  it('a manifest edited in the whole-key KCV only, or in a component KCV only: caught', async () => {
    const a = ceremony('a');
    const m1 = structuredClone(a.manifest);
    m1.slots[0]!.kcv = Uint8Array.of(0, 0, 0);
    const r1 = await load(a.files, m1);
    expect(r1.status).toBe(65);
    expect(r1.err).toMatch(/the components make a key with KCV [0-9A-F]{6}, the manifest says 000000/);
    const m2 = structuredClone(a.manifest);
    m2.slots[0]!.components[1] = Uint8Array.of(1, 2, 3);
    const r2 = await load(a.files, m2);
    expect(r2.status).toBe(65);
    expect(r2.err).toMatch(/custodian 2's component has KCV .*the manifest says 010203/);
    expect(r2.sealed).toBe(false);
  });

  it('a wrong component with a manifest edited to match it fully: the MKC seals what the manifest says, and the KCVs printed show the substitution', async () => {
    // The manifest is the record of the ceremony: edited consistently (component and whole-key
    // KCVs), nothing on the bureau's side can tell. What still holds: the MKC checks the key it
    // combined itself against the manifest at SEAL, so a component altered after this check (the
    // file and its KCV edited, the manifest not) is refused by the card, not only by the CLI.
    const a = ceremony('a');
    const evil = ceremony('evil');
    const files = [a.files[0]!, evil.files[1]!];
    const m = structuredClone(a.manifest);
    m.slots.forEach((s, i) => {
      s.components[1] = evil.files[1]!.components[i]!.kcv;
      s.kcv = combinedKcv(cipher, [
        a.files[0]!.components[i]!.component,
        evil.files[1]!.components[i]!.component,
      ]);
    });
    const r = await load(files, m);
    expect(r.status).toBe(0);
    // the printed KCVs are not the honest ceremony's: comparing them with the custodians' copy shows it
    for (const s of a.manifest.slots) expect(r.out).not.toContain(`KCV ${toHex(s.kcv)}`);
  });

  it('the MKC itself refuses to seal components whose combination does not match the manifest', async () => {
    const a = ceremony('a');
    const b = ceremony('b');
    const device = makeMasterKeyCard({ serial: fromHex('4D4B430000000010'), pin: PIN, cipher });
    const mkc = await MasterKeyCard.open(await new VirtualReader('m', device.os).connect(), PIN);
    await mkc.loadComponents(a.files[0]!);
    await mkc.loadComponents(b.files[1]!); // bypassing the CLI's check
    await expect(mkc.seal(a.manifest)).rejects.toThrow(/6A80|KCV/i);
    expect((await mkc.status()).sealed).toBe(false);
  });

  it('a manifest that is not JSON or lists a slot twice: a usage error, not a crash', async () => {
    const a = ceremony('a');
    const r = await load(a.files, '{"custodians": 2, "slots": [');
    expect(r.status).toBe(2);
    const j = JSON.parse(encodeManifest(a.manifest)) as { slots: unknown[] };
    j.slots.push(j.slots[0]);
    const r2 = await load(a.files, JSON.stringify(j));
    expect(r2.status).toBe(2);
    expect(r2.err).toMatch(/twice/);
  });

  it('import with a wrong KCV: exit 65, nothing written, the component never echoed', async () => {
    const a = ceremony('a');
    const c = a.files[0]!.components[0]!;
    const out = join(dir, 'imported.json');
    let text = '';
    const io: Io = { out: (t) => void (text += t), err: (t) => void (text += t) };
    const args = (k: string) => [
      'keys',
      'ceremony',
      'import',
      '--custodian',
      '1',
      '--of',
      '2',
      '--slot',
      '01',
      '--component',
      toHex(c.component),
      '--kcv',
      k,
      '--out',
      out,
    ];
    expect(await main(args('000000'), io)).toBe(65);
    expect(() => statSync(out)).toThrow();
    noComponent(text, a.files);
    text = '';
    expect(await main(args(toHex(c.kcv)), io)).toBe(0);
    expect(statSync(out).mode & 0o077).toBe(0);
    expect(toHex(kcv(cipher, fromHex(JSON.parse(readFileSync(out, 'utf8')).components[0].component)))).toBe(
      toHex(c.kcv),
    );
    noComponent(text, a.files);
  });
});
