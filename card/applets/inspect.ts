/**
 * Reads a chip's persistent records into plain data (for `meterpurse card show`, for tests that
 * check "nothing else changed", and for the bench). Keys are never included.
 */
import { toHex } from '../util/hex.js';
import { showDateTime } from '../util/bcd.js';
import { u16, u32 } from '../util/bigEndian.js';
import { LOG_RECORDS, PURSE_NAMES, SVM_LOG_RECORDS, SVM_PENDING_SLOTS } from './constants.js';
import type { RecordStore } from './platform/RecordStore.js';
import { CardIdentity, LogRecord, MeterData, PurseState } from './purse/records.js';
import { KEY_IDENTITY, KEY_LOG_HEAD, KEY_PIN, keyLog, keyMeterData, keyPurse } from './purse/PurseApplet.js';
import { KEY_SAM_IDENTITY, KEY_SAM_TERMINAL_KEYS } from './sam/SamApplet.js';
import {
  KEY_SVM_IDENTITY,
  KEY_SVM_LOG_HEAD,
  KEY_SVM_LOG_SEQ,
  KEY_SVM_RECENT,
  KEY_SVM_REGISTER,
  keySvmLog,
  keySvmPending,
} from './svm/SvmApplet.js';
import { PendingTransfer, SvmLogRecord, SvmRegister } from './svm/records.js';
import { KIND_NAMES, LCS_INITIALISATION } from './perso/channel.js';
import { KEY_LIFE } from './perso/PersoGate.js';

export interface PurseView {
  id: number;
  name: string;
  balance: number;
  max: number;
  limit: number;
  unit: number;
  counter: number;
  status: 'active' | 'blocked';
}

export interface SubscriberView {
  kind: 'subscriber';
  csn: string;
  issuerId: string;
  expiry: string;
  profileVersion: number;
  keyVersion: number;
  pin: { required: boolean; triesLeft?: number };
  purses: PurseView[];
  /** Newest first. */
  log: Record<string, unknown>[];
  meterData: (Record<string, unknown> | null)[];
}

export interface SamView {
  kind: 'sam';
  meterId: string;
  terminalId: string;
  terminalKeyVersions: number[];
}

export interface SvmView {
  kind: 'svm';
  meterId: string;
  terminalId: string;
  balance: number;
  max: number;
  counter: number;
  /** The lowest pending slot's transfer, or null when no slot is taken (see `pendingSlots`). */
  pending: Record<string, unknown> | null;
  /** Every pending slot taken, in slot order (issue 13: SVM_PENDING_SLOTS slots). */
  pendingSlots: ({ slot: number } & Record<string, unknown>)[];
  /** Log records ever written (READ LOG's sequence): the newest is number logSeq - 1. */
  logSeq: number;
  recentlyCredited: { csn: string; purse: number; counter: number }[];
  log: Record<string, unknown>[];
}

/** A blank chip (LCS 03): only its manufacture data, nothing of an application yet. */
export interface BlankView {
  kind: 'blank';
  lcs: number;
  /** What it is made to become: subscriber, sam, svm, commissioning. */
  chip: string;
  icsn: string;
  tkv: number;
}

export interface CommissioningView {
  kind: 'commissioning';
  csn: string;
  purse: number;
  uses: number;
}

/** Of a card personalised over APDUs from a blank chip: its life cycle and chip data. */
export interface IssuanceView {
  lcs: number;
  state: 'personalised' | 'blocked' | 'terminated';
  icsn: string;
  tkv: number;
}

export type DeviceView =
  ((SubscriberView | SamView | SvmView | CommissioningView) & { issuance?: IssuanceView }) | BlankView;

function cyclic(
  store: RecordStore,
  headKey: string,
  slots: number,
  key: (i: number) => string,
): Uint8Array[] {
  const head = store.view(headKey)!;
  const out: Uint8Array[] = [];
  for (let n = 1; n <= head[1]!; n++) out.push(store.read(key((head[0]! - n + slots * 2) % slots))!);
  return out;
}

const LCS_STATE: Readonly<Record<number, IssuanceView['state']>> = {
  0x05: 'personalised',
  0x04: 'blocked',
  0x0c: 'terminated',
};

/** The state of whatever applet the store belongs to. @throws Error when the store holds none. */
export function readDevice(store: RecordStore): DeviceView {
  const view = readApplication(store);
  const life = store.view(KEY_LIFE);
  if (view.kind === 'blank' || !life) return view;
  return {
    ...view,
    issuance: {
      lcs: life[0]!,
      state: LCS_STATE[life[0]!] ?? 'terminated',
      icsn: toHex(life.subarray(2, 10)),
      tkv: life[10]!,
    },
  };
}

function readApplication(store: RecordStore): DeviceView {
  const life = store.view(KEY_LIFE);
  if (life && life[0] === LCS_INITIALISATION)
    return {
      kind: 'blank',
      lcs: life[0],
      chip: KIND_NAMES[life[1]!] ?? `kind ${life[1]}`,
      icsn: toHex(life.subarray(2, 10)),
      tkv: life[10]!,
    };
  const id = store.view(KEY_IDENTITY);
  if (id) {
    const ident = CardIdentity.decode(id);
    const pin = store.view(KEY_PIN);
    return {
      kind: 'subscriber',
      csn: toHex(ident.csn),
      issuerId: toHex(ident.issuerId),
      expiry: `20${toHex(ident.expiry).slice(0, 2)}-${toHex(ident.expiry).slice(2, 4)}-${toHex(ident.expiry).slice(4, 6)}`,
      profileVersion: ident.profileVersion,
      keyVersion: ident.keyVersion,
      pin: pin ? { required: ident.pinRequired, triesLeft: pin[0]! } : { required: false },
      purses: ident.purses.map((p) => {
        const s = PurseState.decode(store.view(keyPurse(p))!);
        return {
          id: p,
          name: PURSE_NAMES[p] ?? `purse ${p}`,
          balance: s.balance,
          max: s.max,
          limit: s.limit,
          unit: s.unit,
          counter: s.counter,
          status: s.status === 0 ? 'active' : 'blocked',
        };
      }),
      log: cyclic(store, KEY_LOG_HEAD, LOG_RECORDS, keyLog).map((b) => LogRecord.decode(b).toJSON()),
      meterData: ident.purses.map((_, i) => {
        const b = store.view(keyMeterData(i + 1))!;
        return b.every((x) => x === 0) ? null : MeterData.decode(b).toJSON();
      }),
    };
  }
  const sam = store.view(KEY_SAM_IDENTITY);
  if (sam) {
    const kt = store.view(KEY_SAM_TERMINAL_KEYS)!;
    const versions: number[] = [];
    for (let i = 0; i < kt.length; i += 17) versions.push(kt[i]!);
    return {
      kind: 'sam',
      meterId: toHex(sam.subarray(0, 3)),
      terminalId: toHex(sam.subarray(3, 7)),
      terminalKeyVersions: versions,
    };
  }
  const svm = store.view(KEY_SVM_IDENTITY);
  if (svm) {
    const r = SvmRegister.decode(store.view(KEY_SVM_REGISTER)!);
    const slots: SvmView['pendingSlots'] = [];
    for (let slot = 0; slot < SVM_PENDING_SLOTS; slot++) {
      const b = store.view(keySvmPending(slot));
      if (b) slots.push({ slot, ...PendingTransfer.decode(b).toJSON() });
    }
    const seq = store.view(KEY_SVM_LOG_SEQ);
    const recent = store.view(KEY_SVM_RECENT)!;
    const rc: SvmView['recentlyCredited'] = [];
    for (let i = 0; i + 11 <= recent.length; i += 11)
      rc.push({
        csn: toHex(recent.subarray(i, i + 8)),
        purse: recent[i + 8]!,
        counter: u16(recent, i + 9),
      });
    return {
      kind: 'svm',
      meterId: toHex(svm.subarray(0, 3)),
      terminalId: toHex(svm.subarray(3, 7)),
      balance: r.balance,
      max: r.max,
      counter: r.counter,
      pending: slots[0] ?? null,
      pendingSlots: slots,
      logSeq: seq ? u32(seq, 0) : store.view(KEY_SVM_LOG_HEAD)![1]!,
      recentlyCredited: rc,
      log: cyclic(store, KEY_SVM_LOG_HEAD, SVM_LOG_RECORDS, keySvmLog).map((b) =>
        SvmLogRecord.decode(b).toJSON(),
      ),
    };
  }
  const com = store.view('c.csn');
  if (com)
    return {
      kind: 'commissioning',
      csn: toHex(com),
      purse: store.view('c.purse')![0]!,
      uses: u16(store.view('c.uses')!, 0),
    };
  throw new Error('the store holds no purse, SAM or SVM application');
}

export { showDateTime };
