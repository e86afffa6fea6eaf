/**
 * Key components and the ceremony's files (docs/personalisation.md §4): the published KCV vector,
 * parity, the whole key never in a file, and every parse error typed and naming the slot.
 */
import { describe, expect, it } from 'vitest';
import { NodeCipherProvider, SeededRng, fromHex, hasOddParity, kcv, toHex } from '../../card/index.js';
import {
  KeyComponentError,
  ceremonySlots,
  checkAgainstManifest,
  combineComponents,
  combinedKcv,
  componentFileFromTyped,
  encodeComponentFile,
  encodeManifest,
  generateComponents,
  parseComponentFile,
  parseManifest,
} from '../../terminal/index.js';

const cipher = new NodeCipherProvider();
const VECTOR = fromHex('0123456789ABCDEFFEDCBA9876543210');

function problem(f: () => unknown): KeyComponentError {
  try {
    f();
  } catch (e) {
    if (e instanceof KeyComponentError) return e;
    throw e;
  }
  throw new Error('expected a KeyComponentError');
}

describe('KCV and combination', () => {
  it('published vector: 0123456789ABCDEF FEDCBA9876543210 → 08D7B4', () => {
    expect(toHex(kcv(cipher, VECTOR))).toBe('08D7B4');
  });

  it('two parity-adjusted components combine to the vector key (XOR, parity set)', () => {
    const c1 = fromHex('0101010101010101FEFEFEFEFEFEFEFE');
    const c2 = new Uint8Array(16).map((_, i) => (c1[i]! ^ VECTOR[i]!) | 0);
    // c2 has even parity bytes; the combination sets parity again and gives the key back.
    expect(toHex(combineComponents([c1, c2]))).toBe(toHex(VECTOR));
    expect(toHex(combinedKcv(cipher, [c1, c2]))).toBe('08D7B4');
  });

  it('a typed-in pair of components of the vector key makes a file that checks', () => {
    const c1 = fromHex('0101010101010101FEFEFEFEFEFEFEFE');
    const c2raw = new Uint8Array(16).map((_, i) => c1[i]! ^ VECTOR[i]!);
    const c2 = Uint8Array.from(c2raw, (b) => {
      const hi = b & 0xfe;
      let ones = 0;
      for (let x = hi; x; x &= x - 1) ones++;
      return hi | (ones % 2 === 0 ? 1 : 0);
    });
    const f1 = componentFileFromTyped(cipher, 1, 2, [
      { slot: 0x11, version: 1, component: c1, kcv: kcv(cipher, c1) },
    ]);
    const f2 = componentFileFromTyped(cipher, 2, 2, [
      { slot: 0x11, version: 1, component: c2, kcv: kcv(cipher, c2) },
    ]);
    const manifest = {
      custodians: 2,
      slots: [
        {
          slot: 0x11,
          name: 'MK_auth[1]',
          version: 1,
          kcv: fromHex('08D7B4'),
          components: [f1.components[0]!.kcv, f2.components[0]!.kcv],
        },
      ],
    };
    expect(checkAgainstManifest(cipher, [f2, f1], manifest).map((f) => f.custodian)).toEqual([1, 2]);
    const bad = problem(() =>
      componentFileFromTyped(cipher, 1, 2, [
        { slot: 0x11, version: 1, component: c1, kcv: fromHex('08D7B4') },
      ]),
    );
    expect([bad.problem, bad.slot]).toEqual(['kcv-mismatch', 0x11]);
    expect(bad.message).toMatch(/slot 11 \(MK_auth\[1\]\)/);
  });
});

describe('generateComponents', () => {
  const slots = ceremonySlots([1, 2], 2, 1, 3);
  const { files, manifest } = generateComponents(new SeededRng('ceremony-unit'), cipher, slots, 3);

  it('slots: MK_tr, six masters and the KH versions of each utility', () => {
    expect(slots.map((s) => s.slot.toString(16).padStart(2, '0'))).toEqual([
      '01',
      '11',
      '12',
      '13',
      '14',
      '15',
      '16',
      '18',
      '19',
      '21',
      '22',
      '23',
      '24',
      '25',
      '26',
      '28',
      '29',
    ]);
  });

  it('three custodians, odd-parity components, each with its KCV; the manifest the combined KCV', () => {
    expect(files.map((f) => [f.custodian, f.of])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    for (const f of files)
      for (const c of f.components) {
        expect(hasOddParity(c.component)).toBe(true);
        expect(toHex(c.kcv)).toBe(toHex(kcv(cipher, c.component)));
        expect(c.version).toBe(3);
      }
    for (const s of manifest.slots) {
      const comps = files.map((f) => f.components.find((c) => c.slot === s.slot)!.component);
      expect(toHex(s.kcv)).toBe(toHex(combinedKcv(cipher, comps)));
    }
  });

  it('files round-trip; no whole key is in any file', () => {
    const texts = files.map(encodeComponentFile);
    const mtext = encodeManifest(manifest);
    const parsed = texts.map((t) => parseComponentFile(t, cipher));
    const m = parseManifest(mtext);
    expect(checkAgainstManifest(cipher, parsed, m)).toHaveLength(3);
    for (const s of manifest.slots) {
      const key = toHex(
        combineComponents(files.map((f) => f.components.find((c) => c.slot === s.slot)!.component)),
      );
      for (const t of [...texts, mtext]) expect(t.toUpperCase()).not.toContain(key);
    }
    expect(mtext).not.toMatch(/[0-9A-F]{32}/);
  });

  it('parse errors are typed and name the slot', () => {
    const text = encodeComponentFile(files[0]!);
    expect(problem(() => parseComponentFile('{', cipher)).problem).toBe('malformed');
    expect(problem(() => parseComponentFile('[]', cipher)).problem).toBe('malformed');
    expect(problem(() => parseComponentFile(encodeManifest(manifest), cipher)).problem).toBe('format');
    expect(problem(() => parseManifest(text)).problem).toBe('format');
    const o = JSON.parse(text) as { components: { slot: string; kcv: string; component: string }[] };
    o.components[3]!.kcv = '000000';
    const e = problem(() => parseComponentFile(JSON.stringify(o), cipher, 'custodian-1.json'));
    expect([e.problem, e.slot]).toEqual(['kcv-mismatch', 0x13]);
    expect(e.message).toMatch(
      /custodian-1\.json: the component of slot 13 \(MK_credit\[1\]\) does not match its KCV/,
    );
    const o2 = JSON.parse(text) as { components: { component: string }[] };
    o2.components[0]!.component = 'XYZ';
    expect(problem(() => parseComponentFile(JSON.stringify(o2), cipher)).problem).toBe('malformed');
  });

  it('checkAgainstManifest: a missing custodian, a swapped component, a wrong whole-key KCV', () => {
    expect(problem(() => checkAgainstManifest(cipher, files.slice(0, 2), manifest)).problem).toBe('missing');
    const other = generateComponents(new SeededRng('other'), cipher, slots, 3).files;
    const e = problem(() => checkAgainstManifest(cipher, [files[0]!, other[1]!, files[2]!], manifest));
    expect([e.problem, e.slot]).toEqual(['kcv-mismatch', 0x01]);
    const m2 = parseManifest(encodeManifest(manifest));
    m2.slots[5]!.kcv = fromHex('000000');
    const e2 = problem(() => checkAgainstManifest(cipher, files, m2));
    expect([e2.problem, e2.slot]).toEqual(['kcv-mismatch', m2.slots[5]!.slot]);
    expect(e2.message).toMatch(/the components make a key with KCV/);
  });
});
