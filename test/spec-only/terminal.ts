/**
 * A meter maker's terminal side of docs/purse-spec.md §3, §4 and §13, written from the spec alone:
 * raw APDU bytes through a chip's `transmit`, nothing of the project's terminal/, meter/ or host/.
 */
import {
  cat,
  clearData,
  configRecord,
  diversify,
  equal,
  kOffline,
  kRemote,
  mac,
  parseConfig,
  putConfigData,
  readingsMac,
  readU16,
  readU32,
  remoteLoadData,
  remoteReceipt,
  type OfflineConfig,
  type RemoteLoad,
} from './crypto.js';

/** What the spec lets a terminal see of a chip: bytes in, bytes out. */
export interface Chip {
  transmit(command: Uint8Array): Uint8Array;
}

export interface Response {
  data: Uint8Array;
  sw: number;
}

/** Sends one APDU; follows 61xx with GET RESPONSE (§1, T=0 cards). */
export function send(chip: Chip, apdu: Uint8Array | number[]): Response {
  let r = chip.transmit(Uint8Array.from(apdu));
  let data: Uint8Array = new Uint8Array(0);
  for (;;) {
    if (r.length < 2) throw new Error(`answer shorter than a status word: ${r.length} bytes`);
    const sw = (r[r.length - 2]! << 8) | r[r.length - 1]!;
    data = cat(data, r.subarray(0, r.length - 2));
    if (sw >> 8 !== 0x61) return { data, sw };
    r = chip.transmit(Uint8Array.from([0x00, 0xc0, 0x00, 0x00, sw & 0xff]));
  }
}

/** Case-3/4 command bytes: CLA INS P1 P2 Lc data [Le]. */
export function apdu(
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  data?: Uint8Array,
  le?: number,
): Uint8Array {
  const head = [cla, ins, p1, p2];
  const body = data && data.length > 0 ? [data.length, ...data] : [];
  return Uint8Array.from([...head, ...body, ...(le === undefined ? [] : [le])]);
}

/** BER-TLV walk of the FCI (one-byte and two-byte tags, short and 81/82 lengths). */
export function tlv(b: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let i = 0;
  while (i < b.length) {
    let tag = b[i++]!;
    if ((tag & 0x1f) === 0x1f) tag = (tag << 8) | b[i++]!;
    let len = b[i++]!;
    if (len === 0x81) len = b[i++]!;
    else if (len === 0x82) {
      len = (b[i]! << 8) | b[i + 1]!;
      i += 2;
    }
    if (i + len > b.length) throw new Error(`TLV ${tag.toString(16)} runs past the end`);
    out.set(tag, b.subarray(i, i + len));
    i += len;
  }
  return out;
}

function fciInner(fci: Uint8Array): Map<number, Uint8Array> {
  const a5 = tlv(tlv(fci).get(0x6f) ?? new Uint8Array(0)).get(0xa5);
  if (!a5) throw new Error('FCI without A5');
  return tlv(a5);
}

export class CardError extends Error {
  constructor(
    readonly what: string,
    readonly sw: number,
  ) {
    super(`${what}: SW ${sw.toString(16).padStart(4, '0').toUpperCase()}`);
  }
}

const ok = (what: string, r: Response): Uint8Array => {
  if (r.sw !== 0x9000) throw new CardError(what, r.sw);
  return r.data;
};

export const PURSE_AID = Uint8Array.from([0xf0, 0x4d, 0x50, 0x55, 0x52, 0x53, 0x45, 0x01]);
export const SAM_AID = Uint8Array.from([0xf0, 0x4d, 0x50, 0x53, 0x41, 0x4d, 0x01]);

export interface CardInfo {
  csn: Uint8Array;
  purses: number[];
}

export function selectCard(card: Chip): CardInfo {
  const f = fciInner(ok('SELECT purse', send(card, apdu(0x00, 0xa4, 0x04, 0x00, PURSE_AID, 0x00))));
  const csn = f.get(0x5a);
  const purses = f.get(0xc2);
  if (!csn || csn.length !== 8 || !purses) throw new Error('purse FCI without 5A or C2');
  return { csn: csn.slice(), purses: Array.from(purses) };
}

export interface SamInfo {
  meterId: Uint8Array;
  terminalId: Uint8Array;
  ktVersions: number[];
  purse: number;
  pairing: number;
}

export function selectSam(sam: Chip): SamInfo {
  const f = fciInner(ok('SELECT SAM', send(sam, apdu(0x00, 0xa4, 0x04, 0x00, SAM_AID, 0x00))));
  const need = (t: number) => {
    const v = f.get(t);
    if (!v) throw new Error(`SAM FCI without ${t.toString(16)}`);
    return v.slice();
  };
  return {
    meterId: need(0xc4),
    terminalId: need(0xc5),
    ktVersions: Array.from(need(0xc6)),
    purse: need(0xc7)[0]!,
    pairing: readU16(need(0xc8), 0),
  };
}

export interface PurseState {
  balance: number;
  max: number;
  limit: number;
  unit: number;
  counter: number;
  status: number;
}

export function readPurse(card: Chip, purse: number): PurseState {
  const d = ok('READ PURSE', send(card, apdu(0x80, 0x5c, 0x00, purse, undefined, 0x00)));
  if (d.length !== 17) throw new Error(`READ PURSE answered ${d.length} bytes, not 17`);
  return {
    balance: readU32(d, 0),
    max: readU32(d, 4),
    limit: readU32(d, 8),
    unit: readU16(d, 12),
    counter: readU16(d, 14),
    status: d[16]!,
  };
}

/** P2 of READ / UPDATE RECORD for "record n of SFI s" (ISO/IEC 7816-4: SFI in b8-b4, b3-b1 = 100). */
export const sfiP2 = (sfi: number): number => (sfi << 3) | 0x04;

/** The record number of purse p's meter-data / configuration / readings records: its position in C2. */
export function position(info: CardInfo, purse: number): number {
  const n = info.purses.indexOf(purse);
  if (n < 0) throw new RangeError(`purse ${purse} is not on the card`);
  return n + 1;
}

// ---------------------------------------------------------------------------------------------
// The utility's server (holds MK_credit[u] and KH[u][n]; never a carrier)
// ---------------------------------------------------------------------------------------------

export interface SignedLoad {
  csn: Uint8Array;
  load: RemoteLoad;
  /** The REMOTE LOAD data (26 bytes) exactly as the card takes it. */
  data: Uint8Array;
}

export class UtilityServer {
  readonly #lastSeq = new Map<string, number>();
  readonly stored = new Map<string, Uint8Array>();

  constructor(
    readonly purse: number,
    private readonly mkCredit: Uint8Array,
    private readonly kh: ReadonlyMap<number, Uint8Array>,
    readonly sellerId: Uint8Array,
  ) {}

  kRemote(csn: Uint8Array): Uint8Array {
    return kRemote(this.mkCredit, csn);
  }

  kOffline(meterId: Uint8Array, n: number): Uint8Array {
    const kh = this.kh.get(n);
    if (!kh) throw new RangeError(`no KH version ${n}`);
    return kOffline(kh, meterId);
  }

  /** Signs exactly one message per (CSN, purse, seq): the sequence is allocated here. */
  sell(csn: Uint8Array, amount: number, dateTime: Uint8Array): SignedLoad {
    const k = Buffer.from(csn).toString('hex');
    const seq = (this.#lastSeq.get(k) ?? 0) + 1;
    this.#lastSeq.set(k, seq);
    const load: RemoteLoad = { purse: this.purse, seq, amount, sellerId: this.sellerId, dateTime };
    return { csn, load, data: remoteLoadData(this.kRemote(csn), csn, load) };
  }

  /** Checks the card's receipt of a REMOTE LOAD answer (outcome ‖ balance ‖ counter ‖ receipt). */
  receiptGood(s: SignedLoad, answer: Uint8Array): boolean {
    return (
      answer.length === 15 && equal(answer.subarray(7, 15), remoteReceipt(this.kRemote(s.csn), s.csn, s.load))
    );
  }

  /** The PUT CONFIG data for one card (config record ‖ card MAC). */
  config(csn: Uint8Array, c: OfflineConfig): Uint8Array {
    const rec = configRecord(this.kOffline(c.meterId, c.ktVersion), csn, c);
    return putConfigData(this.kRemote(csn), csn, rec);
  }

  /** Checks a readings record (144 bytes) read off card `csn` and stores it once per (meter id, seq). */
  acceptReadings(csn: Uint8Array, purse: number, rec: Uint8Array): 'stored' | 'duplicate' | 'refused' {
    if (rec.length !== 144 || rec[0] !== 0x01 || rec[4] !== purse || purse !== this.purse || rec[143] !== 0)
      return 'refused';
    const n = rec[134]!;
    if (!this.kh.has(n)) return 'refused';
    const want = readingsMac(this.kOffline(rec.subarray(1, 4), n), csn, rec.subarray(0, 135));
    if (!equal(want, rec.subarray(135, 143))) return 'refused';
    const key = `${Buffer.from(rec.subarray(1, 4)).toString('hex')}:${readU32(rec, 5)}`;
    if (this.stored.has(key)) return 'duplicate';
    this.stored.set(key, rec.slice());
    return 'stored';
  }

  /** The CLEAR READINGS data for a reading it holds. */
  clear(csn: Uint8Array, rec: Uint8Array): Uint8Array {
    return clearData(this.kRemote(csn), csn, this.purse, rec.subarray(135, 143));
  }
}

// ---------------------------------------------------------------------------------------------
// The offline meter's terminal (its SAM holds KT[n]; no K_remote, no K_credit)
// ---------------------------------------------------------------------------------------------

export type LoadFate =
  | { kind: 'applied'; answer: Uint8Array; balance: number; counter: number }
  | { kind: 'already'; answer: Uint8Array; balance: number; counter: number }
  | { kind: 'waiting'; sw: number; cause: 'later' | 'fault' } // 9409, 9402, 6985, faults: keep, deliver again
  | { kind: 'refused'; sw: number }; // final: 6300, 6A80, 6700, 6A86, 6A88, 9404

/** The status words §13.2 names that leave a load worth delivering again later. */
const LOAD_RETRY = new Set([0x9409, 0x9402, 0x6985]);
/** The final refusals §13.2 names. */
const LOAD_FINAL = new Set([0x6300, 0x6a80, 0x6700, 0x6a86, 0x6a88, 0x9404, 0x6d00, 0x6e00]);

export function remoteLoad(card: Chip, purse: number, data: Uint8Array): LoadFate {
  const r = send(card, apdu(0x80, 0x56, 0x00, purse, data, 0x00));
  if (r.sw === 0x9000) {
    if (r.data.length !== 15 || (r.data[0] !== 0x01 && r.data[0] !== 0x02))
      throw new Error(`REMOTE LOAD answer of ${r.data.length} bytes / outcome ${r.data[0]}`);
    const v = { answer: r.data, balance: readU32(r.data, 1), counter: readU16(r.data, 5) };
    return r.data[0] === 0x01 ? { kind: 'applied', ...v } : { kind: 'already', ...v };
  }
  if (LOAD_FINAL.has(r.sw)) return { kind: 'refused', sw: r.sw };
  // 9409 / 9402 / 6985 become applicable later; anything else (6F00, a tear) is worth another try.
  return { kind: 'waiting', sw: r.sw, cause: LOAD_RETRY.has(r.sw) ? 'later' : 'fault' };
}

export interface QueuedLoad {
  id: number;
  csn: Uint8Array;
  purse: number;
  data: Uint8Array;
}

export type ConfigVerdict =
  | { kind: 'none' }
  | { kind: 'authentic'; config: ReturnType<typeof parseConfig>; record: Uint8Array }
  | { kind: 'bound-elsewhere' | 'not-authentic' | 'unknown-key' | 'wrong-purse'; sw: number };

export class OfflineMeterTerminal {
  readonly sam: SamInfo;
  /** Loads carried to this meter, waiting for their card (relay ids). */
  readonly queue: QueuedLoad[] = [];
  /** Final answers to give back to whoever carried them. */
  readonly outbox: { id: number; fate: LoadFate }[] = [];
  applied: { issued: Uint8Array; version: number } | undefined;
  readingSeq = 0;

  constructor(readonly samChip: Chip) {
    this.sam = selectSam(samChip);
  }

  /**
   * Delivers every queued load of `purse` to the card, lowest seq first. 9409 stays queued and is
   * tried once more after another load of the card went through in this pass; 9402 / 6985 / faults
   * stay queued; outcome 01 / 02 and the final refusals go to the outbox.
   */
  deliver(card: Chip, info: CardInfo, purse: number): LoadFate[] {
    const fates: LoadFate[] = [];
    let pending = this.queue
      .filter((q) => q.purse === purse && equal(q.csn, info.csn))
      .sort((a, b) => readU32(a.data, 0) - readU32(b.data, 0));
    for (;;) {
      let progress = false;
      const gapped: QueuedLoad[] = [];
      for (const q of pending) {
        const f = remoteLoad(card, purse, q.data);
        fates.push(f);
        if (f.kind === 'waiting') {
          if (f.sw === 0x9409) gapped.push(q);
          continue;
        }
        this.queue.splice(this.queue.indexOf(q), 1);
        this.outbox.push({ id: q.id, fate: f });
        if (f.kind !== 'refused') progress = true;
      }
      if (!progress || gapped.length === 0) break;
      pending = gapped;
    }
    return fates;
  }

  /** Reads the card's configuration for the SAM's purse and has the SAM check it (CONFIG CHECK). */
  checkConfig(card: Chip, info: CardInfo): ConfigVerdict {
    const n = position(info, this.sam.purse);
    const r = send(card, apdu(0x00, 0xb2, n, sfiP2(3), undefined, 0x00));
    if (r.sw === 0x6a83) return { kind: 'none' };
    const rec = ok('READ RECORD SFI 03', r);
    if (rec.every((b) => b === 0)) return { kind: 'none' };
    const c = send(this.samChip, apdu(0x80, 0x1c, 0x00, 0x00, cat(info.csn, rec)));
    if (c.sw === 0x9000) return { kind: 'authentic', config: parseConfig(rec), record: rec };
    if (c.sw === 0x6300) return { kind: 'not-authentic', sw: c.sw };
    if (c.sw === 0x6a88) return { kind: 'unknown-key', sw: c.sw };
    if (c.sw === 0x6a80) {
      // One SW for three causes: tell them apart from the record itself.
      if (rec[4] !== this.sam.purse || rec[0] !== 0x01) return { kind: 'wrong-purse', sw: c.sw };
      return { kind: 'bound-elsewhere', sw: c.sw };
    }
    throw new CardError('CONFIG CHECK', c.sw);
  }

  /** §13.3: apply once, when newer than the applied one — later issued time, or same second and higher version. */
  applyIfNewer(v: ConfigVerdict): boolean {
    if (v.kind !== 'authentic') return false;
    const issued = v.config.issued;
    const cmp = this.applied ? Buffer.compare(Buffer.from(issued), Buffer.from(this.applied.issued)) : 1;
    if (!(cmp > 0 || (cmp === 0 && v.config.version > this.applied!.version))) return false;
    this.applied = { issued: issued.slice(), version: v.config.version };
    return true;
  }

  /** GET CHALLENGE, SAM AUTH INIT, MUTUAL AUTHENTICATE (P2 = the SAM's purse), SAM AUTH FINISH. */
  authenticate(card: Chip, info: CardInfo): void {
    const rc = ok('GET CHALLENGE', send(card, apdu(0x00, 0x84, 0x00, 0x00, undefined, 0x08)));
    const init = ok('AUTH INIT', send(this.samChip, apdu(0x80, 0x10, 0x00, 0x00, cat(info.csn, rc), 0x00)));
    const sCard = ok('MUTUAL AUTHENTICATE', send(card, apdu(0x00, 0x82, 0x00, this.sam.purse, init, 0x08)));
    ok('AUTH FINISH', send(this.samChip, apdu(0x80, 0x12, 0x00, 0x00, sCard)));
  }

  /** SAM SIGN READINGS over bytes 0..134, then UPDATE RECORD n of SFI 04. Returns the 144-byte record. */
  writeReadings(card: Chip, info: CardInfo, body135: Uint8Array): Uint8Array {
    if (body135.length !== 135) throw new RangeError(`body135 must be 135 bytes, got ${body135.length}`);
    const m = ok(
      'SIGN READINGS',
      send(this.samChip, apdu(0x80, 0x1e, 0x00, 0x00, cat(info.csn, body135), 0x00)),
    );
    if (m.length !== 8) throw new Error(`SIGN READINGS answered ${m.length} bytes`);
    const rec = cat(body135, m, [0x00]);
    ok('UPDATE RECORD SFI 04', send(card, apdu(0x00, 0xdc, position(info, this.sam.purse), sfiP2(4), rec)));
    return rec;
  }
}

// ---------------------------------------------------------------------------------------------
// A vending point of the utility: reads SFI 04 and clears with the server's command
// ---------------------------------------------------------------------------------------------

export function readReadings(card: Chip, info: CardInfo, purse: number): Uint8Array | undefined {
  const r = send(card, apdu(0x00, 0xb2, position(info, purse), sfiP2(4), undefined, 0x00));
  if (r.sw === 0x6a83) return undefined;
  const rec = ok('READ RECORD SFI 04', r);
  return rec.every((b) => b === 0) ? undefined : rec;
}

export function clearReadings(card: Chip, purse: number, data: Uint8Array): number {
  return send(card, apdu(0x80, 0x5a, 0x00, purse, data)).sw;
}

export function putConfig(card: Chip, purse: number, data: Uint8Array): number {
  return send(card, apdu(0x80, 0x58, 0x00, purse, data)).sw;
}

/** Re-exported for the tests' own session-key checks (§2 / §3.4). */
export { diversify, mac, configRecord };
