/**
 * Clearing test harness: a host (temporary database, simulated field) with meter 000123 and the
 * demo card 4D50000000000001 registered, records MAC'd with the demo issuer's real keys (the
 * chip's own MAC input builders), and a simulated SVM behind a {@link ClearingLink} that applies
 * each settlement the way the chip does (tx ids once for life, no-such-pending, duplicate) and can
 * lose answers or fail before applying.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { recordMacInput } from '../../card/applets/PurseCrypto.js';
import { LogRecord } from '../../card/applets/purse/records.js';
import { SvmLogRecord } from '../../card/applets/svm/records.js';
import { be16, pendingMacInput, toHex } from '../../card/index.js';
import { ProtocolError } from '../../protocol/errors.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';
import { ClearingService, type ClearingOptions } from '../../host/clearing/ClearingService.js';
import type {
  ClearingLink,
  SettleAnswer,
  SettleRequest,
  UploadCursor,
  UploadPage,
} from '../../host/clearing/ClearingLink.js';
import {
  pendingRecord,
  svmRecordMacInput,
  type MeterUpload,
  type PendingReport,
  type SvmRecordUpload,
} from '../../host/clearing/records.js';

export const cipher = new NodeCipherProvider();
export const ISSUER_SEED = 'test';
export const issuer = IssuerKeys.demo(cipher, ISSUER_SEED);
export const METER = '000123';
export const METER_ID = Uint8Array.of(0x00, 0x01, 0x23);
export const TERMINAL_ID = Uint8Array.of(0x00, 0x00, 0x01, 0x23);
export const CSN = Uint8Array.of(0x4d, 0x50, 0, 0, 0, 0, 0, 0x01);
export const CSN_HEX = '4D50000000000001';
export const NOW = Uint8Array.of(0x26, 0x11, 0x22, 0x08, 0x30, 0x00);
export const RV = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

const dirs: string[] = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A host with meter 000123 and the demo card registered; `reopen()` closes and reopens the file. */
export function openHost(dir?: string): { svc: HostService; dir: string; file: string } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'clearing-'));
  if (!dir) dirs.push(d);
  const file = join(d, 'host.db');
  const svc = new HostService({
    db: new HostDb(file),
    cipher,
    rng: new SeededRng('clearing'),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, join(d, 'field.json')),
  });
  closers.push(() => {
    if (svc.db.db.open) svc.close();
  });
  if (!dir) {
    const sub = svc.addSubscriber({ name: 'clearing' });
    svc.addMeter({ id: METER, subscriberId: sub, as: 0, ls: 1, modem: 1 });
    svc.addMeter({ id: '000124', subscriberId: sub, as: 0, ls: 1, modem: 2 });
    svc.addCard({ serial: CSN_HEX, subscriberId: sub });
  }
  return { svc, dir: d, file };
}

/** A clock the test moves. */
export class TestClock {
  now = 1_000_000;
  readonly read = (): number => this.now;
}

export function clearingOf(
  svc: HostService,
  o: Partial<ClearingOptions> & { link?: ClearingLink } = {},
): ClearingService {
  return new ClearingService(svc.db, { keys: issuer, purse: 1, termMs: 60_000, ...o });
}

export interface CardRecordSpec {
  type?: 'load' | 'debit';
  purse?: number;
  amount: number;
  balanceAfter: number;
  counter: number;
  terminalId?: Uint8Array;
  dateTime?: Uint8Array;
  rv?: Uint8Array;
  csn?: Uint8Array;
}

/** A card log record with the card's real MAC (K_proof(CSN), the chip's recordMacInput). */
export function cardRecord(s: CardRecordSpec): Uint8Array {
  const csn = s.csn ?? CSN;
  const purse = s.purse ?? 1;
  const terminalId = s.terminalId ?? TERMINAL_ID;
  const dateTime = s.dateTime ?? NOW;
  const rv = s.rv ?? RV;
  const debit = (s.type ?? 'debit') === 'debit';
  const k = issuer.cardKeys(csn, purse).proof;
  const mac = issuer.crypto.mac(
    k,
    recordMacInput(
      debit ? 'D' : 'L',
      { csn, purse, amount: s.amount, counter: s.counter, terminalId, dateTime },
      s.balanceAfter,
      rv,
    ),
  );
  return new LogRecord(
    debit ? 2 : 1,
    purse,
    s.amount,
    s.balanceAfter,
    s.counter,
    terminalId,
    dateTime,
    rv,
    mac,
  ).encode();
}

/** An SVM log record and the SVM's MAC over it (K_svm of meter 000123, pair 1). */
export function svmRecord(
  type: number,
  ref: Uint8Array,
  amount: number,
  balanceAfter: number,
  svmCounter: number,
  meterId: Uint8Array = METER_ID,
): SvmRecordUpload {
  const record = new SvmLogRecord(type, ref, amount, balanceAfter, svmCounter, NOW).encode();
  const mac = issuer.crypto.mac(issuer.svmKey(meterId, 1, 1), svmRecordMacInput(meterId, record));
  return { record, mac };
}

/** CSN ‖ card counter, the reference of a card transfer in an SVM record. */
export function transferRef(counter: number, csn: Uint8Array = CSN): Uint8Array {
  return Uint8Array.of(...csn, ...be16(counter));
}

export const emptyUpload: MeterUpload = { svmRecords: [], cardRecords: [], pending: [], attempts: [] };

/** The host's challenge of the harness's H = 55 pages. */
export const CHALLENGE = Uint8Array.of(0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8);

/**
 * An upload page. Pending entries that carry their RV and no MAC are signed as meter 000123's SVM
 * signs them for {@link CHALLENGE} (READ PENDING P1 = 01), as the power line brings them.
 */
export function upload(u: Partial<MeterUpload>, meterId: Uint8Array = METER_ID): MeterUpload {
  const page = { ...emptyUpload, ...u };
  if (page.challenge || page.pending.length === 0 || page.pending.some((p) => !p.rv)) return page;
  return {
    ...page,
    challenge: CHALLENGE,
    pending: page.pending.map((p) => ({ ...p, mac: p.mac ?? signPending(p, CHALLENGE, meterId) })),
  };
}

/** The SVM's MAC over a pending entry for `challenge` (K_svm of `meterId`, pair 1). */
export function signPending(
  p: PendingReport,
  challenge: Uint8Array,
  meterId: Uint8Array = METER_ID,
): Uint8Array {
  return issuer.crypto.mac(
    issuer.svmKey(meterId, 1, 1),
    pendingMacInput(meterId, p.slot, pendingRecord({ ...p, rv: p.rv! }), challenge),
  );
}

interface Slot {
  csn: string;
  purse: number;
  counter: number;
  amount: number;
}

/**
 * The SVM side of the power line, simulated: its pending slots and the host tx ids it applied
 * (for its life). Settlements are applied as the chip applies HOST SETTLE.
 */
export class SimulatedSvmLink implements ClearingLink {
  readonly slots = new Map<number, Slot>();
  readonly applied = new Map<number, 'settled-complete' | 'settled-cancel'>();
  /** Value the SVM received from settlements. */
  credited = 0;
  settleCalls = 0;
  /** The next n settle calls are applied but their answer is lost (the call throws). */
  loseAnswers = 0;
  /** The next n settle calls fail before reaching the SVM. */
  failBefore = 0;
  /** Upload pages served in order. */
  readonly pages: UploadPage[] = [];
  readonly uploadsAsked: UploadCursor[] = [];
  blacklistHeld = new Map<string, { version: number; serials: string[] }>();
  blacklistDown = new Set<string>();

  addPending(slot: number, p: Slot): void {
    this.slots.set(slot, p);
  }

  async upload(_meterId: string, from: UploadCursor): Promise<UploadPage> {
    this.uploadsAsked.push(from);
    const p = this.pages.shift();
    if (!p) return { upload: emptyUpload, next: from, more: false };
    return p;
  }

  /** Host tx ids applied, newest first, as the chip remembers them (8). */
  readonly #recent: number[] = [];
  /** The SVM's log of settlements, by CSN ‖ counter: type 05 / 06 records. */
  readonly #settled = new Map<string, Uint8Array>();

  /** A HOST CREDIT with `txId` reached the SVM (ids only grow there). */
  applyHostCredit(txId: number): void {
    this.#remember(txId);
  }

  /** The chip forgets all but its last 8 ids; older ids are refused (9407). */
  forgetOldIds(): void {
    this.#recent.splice(1);
  }

  #remember(txId: number): void {
    this.#recent.unshift(txId);
    this.#recent.splice(8);
  }

  async settle(_meterId: string, r: SettleRequest): Promise<SettleAnswer> {
    this.settleCalls++;
    if (this.failBefore > 0) {
      this.failBefore--;
      throw new Error('link down');
    }
    if (this.#recent.includes(r.txId)) return this.#answer({ status: 'duplicate' });
    if (this.#recent.length > 0 && r.txId <= this.#recent[0]!)
      throw new ProtocolError('refused', 'SVM 9407: host tx id not above the last applied', 0x06); // REFUSE_BAD_PAYLOAD, as MeterModem maps 9407
    const key = `${toHex(r.csn).toUpperCase()}:${r.counter}`;
    const s = this.slots.get(r.slot);
    if (!s || `${s.csn}:${s.counter}` !== key || s.amount !== r.amount) {
      const rec = this.#settled.get(key);
      return this.#answer({ status: 'no-such-pending', ...(rec ? { logRecord: rec } : {}) });
    }
    this.slots.delete(r.slot);
    const status = r.decision === 'complete' ? 'settled-complete' : 'settled-cancel';
    if (r.decision === 'complete') this.credited += r.amount;
    this.applied.set(r.txId, status);
    this.#remember(r.txId);
    this.#settled.set(
      key,
      new SvmLogRecord(
        r.decision === 'complete' ? 5 : 6,
        transferRef(r.counter, r.csn),
        r.amount,
        0,
        1,
        NOW,
      ).encode(),
    );
    return this.#answer({ status });
  }

  #answer(a: SettleAnswer): SettleAnswer {
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      throw new Error('answer lost');
    }
    return a;
  }

  async sendBlacklist(
    meterId: string,
    list: { version: number; serials: readonly Uint8Array[] },
  ): Promise<{ version: number; status: string }> {
    if (this.blacklistDown.has(meterId)) throw new Error('no answer');
    const held = this.blacklistHeld.get(meterId);
    if (held && list.version <= held.version) return { version: held.version, status: 'stale version' };
    this.blacklistHeld.set(meterId, {
      version: list.version,
      serials: list.serials.map((s) => toHex(s).toUpperCase()),
    });
    return { version: list.version, status: 'applied' };
  }
}
