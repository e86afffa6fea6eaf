/**
 * Key components and the key ceremony's files (docs/personalisation.md §4).
 *
 * Every master of the issuer is split into 2 or 3 random components, one per custodian, each with
 * DES odd parity; the key is their XOR with parity set again, so no custodian alone knows a bit
 * of it. The whole key exists only for the moment its KCV is computed, then it is wiped: what
 * leaves this module is components (one file per custodian) and KCVs (the manifest).
 *
 * ```
 *   key      = adjustDesParity(C1 ⊕ C2 [⊕ C3])
 *   KCV(x)   = TDES-ECB(x, 00…00)[0..3]           card/crypto/kcv.ts
 *
 *   custodian-n.json   { format: 'meterpurse-key-components', version: 1, custodian: n, of: N,
 *                        components: [ { slot: '11', name: 'MK_auth[1]', version: 1,
 *                                        component: <32 hex>, kcv: <6 hex> }, … ] }
 *   manifest.json      { format: 'meterpurse-key-manifest', version: 1, custodians: N,
 *                        slots: [ { slot: '11', name, version, kcv: <KCV of the key>,
 *                                   components: [<KCV of C1>, <KCV of C2>, …] }, … ] }
 * ```
 * Parsers of these files never blow up: every fault is a `KeyComponentError` naming the file's
 * field or the slot.
 */
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import { adjustDesParity, kcv, persoChannel, wipe } from '../../card/index.js';
import { equalBytes, fromHex, toHex } from '../../card/index.js';

const { slotName } = persoChannel;

export const COMPONENT_FILE_FORMAT = 'meterpurse-key-components';
export const MANIFEST_FORMAT = 'meterpurse-key-manifest';
const KEY_LENGTH = 16;
const KCV_LENGTH = 3;

/** A slot of the master-key card and the version of the key it holds. */
export interface SlotVersion {
  slot: number;
  version: number;
}

/** One custodian's component of one slot. */
export interface KeyComponent {
  slot: number;
  name: string;
  version: number;
  component: Uint8Array;
  kcv: Uint8Array;
}

/** What one custodian keeps: their components of every slot. */
export interface ComponentFile {
  custodian: number;
  of: number;
  components: KeyComponent[];
}

export interface ManifestSlot {
  slot: number;
  name: string;
  version: number;
  /** KCV of the whole key. */
  kcv: Uint8Array;
  /** KCV of each component, custodian 1 first. */
  components: Uint8Array[];
}

/** The ceremony's record: no key material, only KCVs. */
export interface Manifest {
  custodians: number;
  slots: ManifestSlot[];
}

export type KeyComponentProblem = 'format' | 'malformed' | 'kcv-mismatch' | 'missing' | 'inconsistent';

/** A component file or manifest that cannot be used; `slot` names the slot when one is at fault. */
export class KeyComponentError extends Error {
  override readonly name = 'KeyComponentError';
  constructor(
    readonly problem: KeyComponentProblem,
    message: string,
    readonly slot?: number,
  ) {
    super(message);
  }
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** The slot as the files and messages write it: `11 (MK_auth[1])`. */
export function slotLabel(slot: number): string {
  return `${hex2(slot)} (${slotName(slot)})`;
}

function checkSlot(slot: number, name = 'slot'): void {
  if (!Number.isInteger(slot) || slot < 1 || slot > 0xff)
    throw new RangeError(`${name} must be 01..FF, got ${slot}`);
  const t = slot & 0x0f;
  if (slot >> 4 !== 0 && (t === 0 || t === 7))
    throw new RangeError(`${name} ${hex2(slot)} is not a key slot`);
}

function checkVersion(version: number): void {
  if (!Number.isInteger(version) || version < 0 || version > 0xff)
    throw new RangeError(`version must be 0..255, got ${version}`);
}

/**
 * The slots of a ceremony: for each utility u its six masters (auth, debit, credit, proof, svm,
 * comm) and KH[u][0..khVersions-1], and the transport masters MK_tr[1..transportVersions]; every
 * key of version `keyVersion`.
 * @throws RangeError naming the argument out of range.
 */
export function ceremonySlots(
  utilities: readonly number[],
  khVersions = 2,
  transportVersions = 1,
  keyVersion = 1,
): SlotVersion[] {
  if (utilities.length < 1) throw new RangeError('utilities: at least one');
  if (!Number.isInteger(khVersions) || khVersions < 1 || khVersions > 8)
    throw new RangeError(`khVersions must be 1..8, got ${khVersions}`);
  if (!Number.isInteger(transportVersions) || transportVersions < 0 || transportVersions > 15)
    throw new RangeError(`transportVersions must be 0..15, got ${transportVersions}`);
  checkVersion(keyVersion);
  const out: SlotVersion[] = [];
  for (let v = 1; v <= transportVersions; v++) out.push({ slot: v, version: keyVersion });
  const seen = new Set<number>();
  for (const u of utilities) {
    if (!Number.isInteger(u) || u < 1 || u > 15) throw new RangeError(`utility must be 1..15, got ${u}`);
    if (seen.has(u)) throw new RangeError(`utility ${u} is given twice`);
    seen.add(u);
    for (let t = 1; t <= 6; t++) out.push({ slot: (u << 4) | t, version: keyVersion });
    for (let n = 0; n < khVersions; n++) out.push({ slot: (u << 4) | (8 + n), version: keyVersion });
  }
  return out;
}

/** XOR of the components with DES parity set: the whole key (the caller wipes it). */
export function combineComponents(components: readonly Uint8Array[]): Uint8Array {
  if (components.length < 1) throw new RangeError('components: at least one');
  const x = new Uint8Array(KEY_LENGTH);
  for (const c of components) {
    if (!(c instanceof Uint8Array) || c.length !== KEY_LENGTH)
      throw new RangeError(`a component is ${KEY_LENGTH} bytes`);
    for (let i = 0; i < KEY_LENGTH; i++) x[i]! ^= c[i]!;
  }
  const key = adjustDesParity(x);
  wipe(x);
  return key;
}

/** KCV of the key the components make; the key itself is wiped before this returns. */
export function combinedKcv(cipher: BlockCipherProvider, components: readonly Uint8Array[]): Uint8Array {
  const key = combineComponents(components);
  try {
    return kcv(cipher, key);
  } finally {
    wipe(key);
  }
}

/**
 * Generates the components of every slot for `custodians` custodians (2 or 3): random 16 bytes
 * each, DES parity set. The whole key of a slot is made only to compute its KCV, then wiped.
 * @returns one `ComponentFile` per custodian (custodian 1 first) and the manifest.
 * @throws RangeError for a bad slot, version or custodian count.
 */
export function generateComponents(
  rng: Rng,
  cipher: BlockCipherProvider,
  slots: readonly SlotVersion[],
  custodians: 2 | 3,
): { files: ComponentFile[]; manifest: Manifest } {
  if (custodians !== 2 && custodians !== 3)
    throw new RangeError(`custodians must be 2 or 3, got ${custodians}`);
  if (slots.length < 1) throw new RangeError('slots: at least one');
  const files: ComponentFile[] = Array.from({ length: custodians }, (_, i) => ({
    custodian: i + 1,
    of: custodians,
    components: [],
  }));
  const manifest: Manifest = { custodians, slots: [] };
  const seen = new Set<number>();
  for (const { slot, version } of slots) {
    checkSlot(slot);
    checkVersion(version);
    if (seen.has(slot)) throw new RangeError(`slot ${hex2(slot)} is given twice`);
    seen.add(slot);
    const comps: Uint8Array[] = [];
    for (let c = 0; c < custodians; c++) {
      const raw = rng.bytes(KEY_LENGTH);
      comps.push(adjustDesParity(raw));
      wipe(raw);
    }
    const kcvs = comps.map((c) => kcv(cipher, c));
    const name = slotName(slot);
    comps.forEach((component, i) =>
      files[i]!.components.push({ slot, name, version, component, kcv: kcvs[i]! }),
    );
    manifest.slots.push({ slot, name, version, kcv: combinedKcv(cipher, comps), components: kcvs });
  }
  return { files, manifest };
}

// ---- JSON ----

/** The JSON text of a custodian's file (it holds key components: write it mode 0600). */
export function encodeComponentFile(f: ComponentFile): string {
  return `${JSON.stringify(
    {
      format: COMPONENT_FILE_FORMAT,
      version: 1,
      custodian: f.custodian,
      of: f.of,
      components: f.components.map((c) => ({
        slot: hex2(c.slot),
        name: c.name,
        version: c.version,
        component: toHex(c.component),
        kcv: toHex(c.kcv),
      })),
    },
    null,
    2,
  )}\n`;
}

/** The JSON text of a manifest (KCVs only). */
export function encodeManifest(m: Manifest): string {
  return `${JSON.stringify(
    {
      format: MANIFEST_FORMAT,
      version: 1,
      custodians: m.custodians,
      slots: m.slots.map((s) => ({
        slot: hex2(s.slot),
        name: s.name,
        version: s.version,
        kcv: toHex(s.kcv),
        components: s.components.map((k) => toHex(k)),
      })),
    },
    null,
    2,
  )}\n`;
}

type Json = Record<string, unknown>;

function parseJson(text: string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KeyComponentError('malformed', `${what} is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new KeyComponentError('malformed', `${what} is not a JSON object`);
  return v as Json;
}

function intField(o: Json, field: string, min: number, max: number, where: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new KeyComponentError('malformed', `${where}: ${field} must be an integer ${min}..${max}`);
  return v;
}

function hexField(o: Json, field: string, length: number, where: string, slot?: number): Uint8Array {
  const v = o[field];
  let b: Uint8Array | undefined;
  if (typeof v === 'string' && /^([0-9a-fA-F]{2})*$/.test(v)) b = fromHex(v);
  if (!b || b.length !== length)
    throw new KeyComponentError('malformed', `${where}: ${field} must be ${length} bytes of hex`, slot);
  return b;
}

function slotField(o: Json, where: string): number {
  const v = o['slot'];
  let slot: number | undefined;
  if (typeof v === 'string' && /^[0-9a-fA-F]{2}$/.test(v)) slot = parseInt(v, 16);
  else if (typeof v === 'number') slot = v;
  try {
    if (slot === undefined) throw new RangeError('x');
    checkSlot(slot);
  } catch {
    throw new KeyComponentError('malformed', `${where}: slot must be a key slot in hex (01..FF)`);
  }
  return slot;
}

function checkFormat(o: Json, format: string, what: string): void {
  if (o['format'] !== format)
    throw new KeyComponentError(
      'format',
      `${what} is not a ${format} file (format ${JSON.stringify(o['format'] ?? null)})`,
    );
  if (o['version'] !== 1)
    throw new KeyComponentError(
      'format',
      `${what}: version ${JSON.stringify(o['version'] ?? null)} is not 1`,
    );
}

/**
 * Parses a custodian's file and checks every component against its own KCV.
 * @throws KeyComponentError 'format' (not a component file), 'malformed' (a field), 'kcv-mismatch'
 *   naming the slot whose component does not give its KCV.
 */
export function parseComponentFile(
  text: string,
  cipher: BlockCipherProvider,
  what = 'component file',
): ComponentFile {
  const o = parseJson(text, what);
  checkFormat(o, COMPONENT_FILE_FORMAT, what);
  const of = intField(o, 'of', 2, 3, what);
  const custodian = intField(o, 'custodian', 1, of, what);
  const list = o['components'];
  if (!Array.isArray(list) || list.length === 0)
    throw new KeyComponentError('malformed', `${what}: components must be a non-empty list`);
  const seen = new Set<number>();
  const components = list.map((e: unknown, i): KeyComponent => {
    const at = `${what}: components[${i}]`;
    if (typeof e !== 'object' || e === null)
      throw new KeyComponentError('malformed', `${at} is not an object`);
    const c = e as Json;
    const slot = slotField(c, at);
    if (seen.has(slot))
      throw new KeyComponentError('inconsistent', `${what}: slot ${slotLabel(slot)} twice`, slot);
    seen.add(slot);
    const version = intField(c, 'version', 0, 255, at);
    const component = hexField(c, 'component', KEY_LENGTH, `${at} (slot ${slotLabel(slot)})`, slot);
    const k = hexField(c, 'kcv', KCV_LENGTH, `${at} (slot ${slotLabel(slot)})`, slot);
    checkComponentKcv(cipher, slot, component, k, what);
    return { slot, name: slotName(slot), version, component, kcv: k };
  });
  return { custodian, of, components };
}

function checkComponentKcv(
  cipher: BlockCipherProvider,
  slot: number,
  component: Uint8Array,
  expected: Uint8Array,
  what: string,
): void {
  const got = kcv(cipher, component);
  if (!equalBytes(got, expected))
    throw new KeyComponentError(
      'kcv-mismatch',
      `${what}: the component of slot ${slotLabel(slot)} does not match its KCV (KCV ${toHex(expected)}, the component gives ${toHex(got)})`,
      slot,
    );
}

/**
 * Parses a manifest.
 * @throws KeyComponentError 'format' / 'malformed'.
 */
export function parseManifest(text: string, what = 'manifest'): Manifest {
  const o = parseJson(text, what);
  checkFormat(o, MANIFEST_FORMAT, what);
  const custodians = intField(o, 'custodians', 2, 3, what);
  const list = o['slots'];
  if (!Array.isArray(list) || list.length === 0)
    throw new KeyComponentError('malformed', `${what}: slots must be a non-empty list`);
  const seen = new Set<number>();
  const slots = list.map((e: unknown, i): ManifestSlot => {
    const at = `${what}: slots[${i}]`;
    if (typeof e !== 'object' || e === null)
      throw new KeyComponentError('malformed', `${at} is not an object`);
    const s = e as Json;
    const slot = slotField(s, at);
    if (seen.has(slot))
      throw new KeyComponentError('inconsistent', `${what}: slot ${slotLabel(slot)} twice`, slot);
    seen.add(slot);
    const version = intField(s, 'version', 0, 255, at);
    const k = hexField(s, 'kcv', KCV_LENGTH, at, slot);
    const comps = s['components'];
    if (!Array.isArray(comps) || comps.length !== custodians)
      throw new KeyComponentError('malformed', `${at}: components must list ${custodians} KCVs`, slot);
    const components = comps.map((c: unknown, j) =>
      hexField({ c }, 'c', KCV_LENGTH, `${at}.components[${j}]`, slot),
    );
    return { slot, name: slotName(slot), version, kcv: k, components };
  });
  return { custodians, slots };
}

/**
 * Checks the custodians' files against the manifest before anything is loaded: one file per
 * custodian 1..N, each listing the manifest's slots with the manifest's versions and component
 * KCVs, and every slot's components combining to the manifest's KCV of the whole key (computed
 * and wiped here). @returns the files in custodian order.
 * @throws KeyComponentError 'missing' / 'inconsistent' / 'kcv-mismatch', naming the slot.
 */
export function checkAgainstManifest(
  cipher: BlockCipherProvider,
  files: readonly ComponentFile[],
  manifest: Manifest,
): ComponentFile[] {
  const n = manifest.custodians;
  const byCustodian: ComponentFile[] = [];
  for (const f of files) {
    if (f.of !== n)
      throw new KeyComponentError(
        'inconsistent',
        `custodian ${f.custodian}'s file is one of ${f.of}, the manifest has ${n}`,
      );
    if (byCustodian[f.custodian - 1])
      throw new KeyComponentError('inconsistent', `two files of custodian ${f.custodian}`);
    byCustodian[f.custodian - 1] = f;
  }
  for (let c = 1; c <= n; c++)
    if (!byCustodian[c - 1])
      throw new KeyComponentError('missing', `the file of custodian ${c} of ${n} is missing`);
  for (const f of byCustodian)
    for (const comp of f.components)
      if (!manifest.slots.some((s) => s.slot === comp.slot))
        throw new KeyComponentError(
          'inconsistent',
          `custodian ${f.custodian}'s file has slot ${slotLabel(comp.slot)}, which the manifest does not list`,
          comp.slot,
        );
  for (const s of manifest.slots) {
    const comps: Uint8Array[] = [];
    for (const f of byCustodian) {
      const comp = f.components.find((x) => x.slot === s.slot);
      if (!comp)
        throw new KeyComponentError(
          'missing',
          `custodian ${f.custodian}'s file lacks slot ${slotLabel(s.slot)}`,
          s.slot,
        );
      if (comp.version !== s.version)
        throw new KeyComponentError(
          'inconsistent',
          `slot ${slotLabel(s.slot)}: custodian ${f.custodian}'s component is version ${comp.version}, the manifest says ${s.version}`,
          s.slot,
        );
      if (!equalBytes(comp.kcv, s.components[f.custodian - 1]!))
        throw new KeyComponentError(
          'kcv-mismatch',
          `slot ${slotLabel(s.slot)}: custodian ${f.custodian}'s component has KCV ${toHex(comp.kcv)}, the manifest says ${toHex(s.components[f.custodian - 1]!)}`,
          s.slot,
        );
      comps.push(comp.component);
    }
    const got = combinedKcv(cipher, comps);
    if (!equalBytes(got, s.kcv))
      throw new KeyComponentError(
        'kcv-mismatch',
        `slot ${slotLabel(s.slot)}: the components make a key with KCV ${toHex(got)}, the manifest says ${toHex(s.kcv)}`,
        s.slot,
      );
  }
  return byCustodian;
}

/** One typed-in component (`keys ceremony import`). */
export interface TypedComponent {
  slot: number;
  version: number;
  component: Uint8Array;
  kcv: Uint8Array;
}

/**
 * A custodian's file from components typed in from paper (an existing key's components), each
 * checked against its typed KCV; parity is checked, not silently set: a typo shows.
 * @throws KeyComponentError 'kcv-mismatch' naming the slot; 'malformed' for a component without
 *   odd parity or of the wrong length; RangeError for a bad slot / custodian number.
 */
export function componentFileFromTyped(
  cipher: BlockCipherProvider,
  custodian: number,
  of: number,
  typed: readonly TypedComponent[],
): ComponentFile {
  if (of !== 2 && of !== 3) throw new RangeError(`of must be 2 or 3, got ${of}`);
  if (!Number.isInteger(custodian) || custodian < 1 || custodian > of)
    throw new RangeError(`custodian must be 1..${of}, got ${custodian}`);
  if (typed.length < 1) throw new RangeError('at least one component');
  const seen = new Set<number>();
  const components = typed.map((t): KeyComponent => {
    checkSlot(t.slot);
    checkVersion(t.version);
    if (seen.has(t.slot))
      throw new KeyComponentError('inconsistent', `slot ${slotLabel(t.slot)} twice`, t.slot);
    seen.add(t.slot);
    if (t.component.length !== KEY_LENGTH)
      throw new KeyComponentError(
        'malformed',
        `slot ${slotLabel(t.slot)}: a component is 16 bytes, got ${t.component.length}`,
        t.slot,
      );
    if (t.kcv.length !== KCV_LENGTH)
      throw new KeyComponentError(
        'malformed',
        `slot ${slotLabel(t.slot)}: a KCV is 3 bytes, got ${t.kcv.length}`,
        t.slot,
      );
    checkComponentKcv(cipher, t.slot, t.component, t.kcv, 'typed component');
    if (!equalBytes(adjustDesParity(t.component), t.component))
      throw new KeyComponentError(
        'malformed',
        `slot ${slotLabel(t.slot)}: the component lacks DES odd parity (a typo?)`,
        t.slot,
      );
    return {
      slot: t.slot,
      name: slotName(t.slot),
      version: t.version,
      component: t.component.slice(),
      kcv: t.kcv.slice(),
    };
  });
  return { custodian, of, components };
}

/** Zero-fills every component of the files. */
export function wipeComponents(files: readonly ComponentFile[]): void {
  for (const f of files) for (const c of f.components) wipe(c.component);
}
