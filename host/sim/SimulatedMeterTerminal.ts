/**
 * A SIMULATED meter terminal for tests and benchmarks: the terminal column of seed 000 Figs. 1–3
 * in plain TypeScript, holding KT[n], an SVM balance and the meter data the usage check reads. It
 * is not the meter (meter/) nor the SAM/SVM applets (card/applets/); it exists so the host can be
 * tested byte for byte and at scale. Its persistent state can be exported and re-imported, which
 * tests use to model a meter that loses power between any two steps.
 *
 * Exactly once: the terminal remembers the results of its last {@link RECENT_TX} value-store
 * transactions; a repeated transaction id is answered with status DUPLICATE and its original
 * balance-after, and nothing is credited again.
 *
 * Clearing (issue 13, docs/host-protocol.md "Clearing") is served the way 51–53 are — one
 * authenticated COMMAND, an M under Ks with `Balance ‖ ID` appended:
 * - H = 55 record upload: the pending transfers it is given (`pending`), its SVM log from log
 *   sequence number `svmFrom` (every credit and settlement writes an SVM log record; with `svmKey`
 *   each goes with MAC(K_svm, 'J' ‖ meter id ‖ record) as the SVM's READ LOG makes it, without it
 *   no records are sent), no journal (it has no card slot): next = oldest = from.
 * - H = 56 blacklist: applied only above the version held, a delta only on its base, refused when
 *   over capacity or when its key whitelist leaves out this session's key version; a withdrawn key
 *   version opens no session (INIT refused 01), as at the meter.
 * - H = 54 host settle: settles one of its pending transfers by the SVM's rules (docs/purse-spec.md
 *   §5.8), host tx ids shared with value stores; the answer is the SVM's 63 bytes ‖ ID.
 * - H = 57 card commands (issue 17): a queue with the meter's rules (stored once per id, at most
 *   CARD_COMMAND_CAPACITY, FULL / bad instruction / bad length refused, forget, ackBelow) but no
 *   card slot: tests stand in for a card with `cardAnswered` and `readingFound`.
 */
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import {
  MalformedDataError,
  PurseCrypto,
  SETTLE_CANCEL,
  SETTLE_COMPLETE,
  SETTLED_CANCEL,
  SETTLED_COMPLETE,
  SETTLE_DUPLICATE,
  SETTLE_NO_SUCH_PENDING,
  SVM_PENDING_SLOTS,
  SettlePayload,
  SvmLogRecord,
  be16,
  be32,
  concatBytes,
  fromHex,
  svmLogMacInput,
  pendingMacInput,
  toHex,
} from '../../card/index.js';
import { ConsumptionLog } from '../../protocol/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import {
  BLACKLIST_CAPACITY,
  BL_APPLIED,
  BL_BASE_MISMATCH,
  BL_FULL,
  BL_LOCKOUT,
  BL_STALE,
  H_BLACKLIST,
  H_CLEARING_UPLOAD,
  H_SETTLE,
  UPLOAD_MAX_PENDING,
  UPLOAD_PAGE_BUDGET,
  SVM_RECORD_WIRE_SIZE,
  decodeBlacklistUpdate,
  decodeUploadRequest,
  pendingRecordOf,
  encodeBlacklistBody,
  encodeUploadBody,
  uploadBodyBaseSize,
  type PendingEntryWire,
  type SvmRecordWire,
  H_TARIFF,
  H_USAGE,
  H_VALUE_STORE,
  REFUSE_BAD_PAYLOAD,
  REFUSE_BAD_SIGNATURE,
  REFUSE_MALFORMED,
  REFUSE_NO_SESSION,
  REFUSE_UNKNOWN_HEADER,
  REFUSE_UNKNOWN_KEY_VERSION,
  TARIFF_STORED,
  VS_CREDITED,
  VS_DUPLICATE,
  VS_REFUSED_MAX_BALANCE,
} from '../../protocol/index.js';
import { decodeMessage, decodeTxId, encodeMessage, encodeTxId } from '../../protocol/index.js';
import type { Message } from '../../protocol/index.js';
import {
  decodeTariffPayload,
  decodeUsagePayload,
  decodeValueStorePlain,
  encodeTariffAnswer,
  encodeUsageInfo,
  encodeValueStoreAnswer,
} from '../../protocol/index.js';
import { decrypt, encrypt, terminalOpen, terminalVerify } from '../../protocol/index.js';
import type { TerminalOpened } from '../../protocol/index.js';
import type { MessageEndpoint, Terminal } from '../../protocol/index.js';
import { terminalOverMessages } from '../../protocol/index.js';
import {
  CARD_ANSWERS_PER_MESSAGE,
  CARD_COMMAND_CAPACITY,
  CARD_COMMAND_LC,
  CARD_READINGS_PER_MESSAGE,
  H_CARD_COMMANDS,
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  REFUSED_FULL,
  REFUSED_INS,
  REFUSED_LENGTH,
  decodeCardCommandsRequest,
  encodeCardCommandsBody,
  type CardAnswer,
  type CardCommand,
  type OfflineReadingWire,
} from '../../protocol/index.js';

/** The simulated card-command queue and outbox (persistent, as hex). */
export interface SimulatedCardCommandsState {
  nextSeq: number;
  queue: { id: number; csn: string; ins: number; p2: number; data: string; lastSw?: number }[];
  outbox: (
    | { seq: number; kind: 'answer'; id: number; sw: number; data: string }
    | { seq: number; kind: 'reading'; csn: string; purse: number; record: string }
  )[];
  finished: number[];
}

/** How many value-store results the terminal remembers. */
export const RECENT_TX = 64;
/** SVM log records the simulated SVM keeps (the chip's ring holds 16). */
export const SIM_LOG_RECORDS = 16;
/** SVM log record types (card/applets/svm/records.ts). */
const LOG_HOST_CREDIT = 0x03;
const LOG_SETTLE_COMPLETE = 0x05;
const LOG_SETTLE_CANCEL = 0x06;

export interface SimulatedMeterOptions {
  id: Uint8Array;
  /** KT[n] by version (at least one). */
  terminalKeys: ReadonlyMap<number, Uint8Array>;
  balance?: number;
  maxBalance?: number;
  /** Meter clock, seconds since 2000-01-01. */
  clock?: number;
  table?: TariffTable;
  energyWh?: number;
  flags?: number;
  /** K_svm of the meter: with it the H = 55 upload carries its SVM log records with their MACs. */
  svmKey?: Uint8Array;
  /** Transfers the simulated SVM holds pending (H = 55 lists them, H = 54 settles them). */
  pending?: readonly (Omit<PendingEntryWire, 'rv' | 'mac'> & { readonly rv?: Uint8Array })[];
  /** SVM log records kept (default SIM_LOG_RECORDS). */
  logRecords?: number;
}

/** The simulated SVM log and blacklist (persistent, as hex). */
export interface SimulatedClearingState {
  svmCounter: number;
  /** Log records ever written: the newest kept is number logSeq - 1. */
  logSeq: number;
  log: string[];
  /** `rv` absent in a state saved before the pending entry carried it: sent as zeros. */
  pending: {
    slot: number;
    csn: string;
    purse: number;
    amount: number;
    counter: number;
    dateTime: string;
    rv?: string;
  }[];
  blacklistVersion: number;
  blacklist: string[];
  keyVersions: number[];
  cardKeyVersions: number[];
}

/** The persistent part of the simulated terminal (what survives a power loss). */
export interface SimulatedMeterState {
  balance: number;
  maxBalance: number;
  recent: Array<[bigint, number]>;
  clock: number;
  table: Uint8Array;
  pendingTable: { activation: number; table: Uint8Array } | undefined;
  energyWh: number;
  flags: number;
  /** Absent in a state saved before the simulated terminal served clearing: empty log and list. */
  clearing?: SimulatedClearingState;
  /** Absent in a state saved before issue 17: nothing queued. */
  cardCommands?: SimulatedCardCommandsState;
}

export class SimulatedMeterTerminal implements MessageEndpoint {
  readonly id: Uint8Array;
  readonly #cipher: BlockCipherProvider;
  readonly #rng: Rng;
  readonly #keys: Map<number, Uint8Array>;
  readonly #recent = new Map<bigint, number>();
  #session: (TerminalOpened & { n: number }) | undefined;
  readonly #purseCrypto: PurseCrypto;
  readonly #svmKey: Uint8Array | undefined;
  readonly #logCapacity: number;
  #clearing: SimulatedClearingState;
  #cards: SimulatedCardCommandsState = { nextSeq: 1, queue: [], outbox: [], finished: [] };
  #log: ConsumptionLog;
  #table: TariffTable;
  #pendingTable: { activation: RtcTime; table: TariffTable } | undefined;
  balance: number;
  maxBalance: number;
  clock: number;
  energyWh: number;
  flags: number;
  /** Number of credits actually applied (tests count these to prove exactly-once). */
  creditsApplied = 0;
  /** Number of settlements actually applied (H = 54 status 00 / 01). */
  settlementsApplied = 0;

  constructor(cipher: BlockCipherProvider, rng: Rng, o: SimulatedMeterOptions) {
    if (o.id.length !== 3) throw new RangeError('id must be 3 bytes');
    if (o.terminalKeys.size === 0) throw new RangeError('terminalKeys must hold at least one version');
    this.#cipher = cipher;
    this.#rng = rng;
    this.id = Uint8Array.from(o.id);
    this.#keys = new Map([...o.terminalKeys].map(([n, k]) => [n, Uint8Array.from(k)]));
    this.balance = o.balance ?? 0;
    this.maxBalance = o.maxBalance ?? 0xffffffff;
    this.clock = o.clock ?? RtcTime.of(2026, 1, 1).seconds;
    this.#table = o.table ?? TariffTable.flat(100);
    this.energyWh = o.energyWh ?? 0;
    this.flags = o.flags ?? 0;
    this.#log = new ConsumptionLog(this.clock);
    this.#purseCrypto = new PurseCrypto(cipher);
    this.#svmKey = o.svmKey && Uint8Array.from(o.svmKey);
    this.#logCapacity = o.logRecords ?? SIM_LOG_RECORDS;
    if (!Number.isInteger(this.#logCapacity) || this.#logCapacity < 1)
      throw new RangeError(`logRecords must be ≥ 1, got ${o.logRecords}`);
    const pending = o.pending ?? [];
    if (pending.length > UPLOAD_MAX_PENDING)
      throw new RangeError(`pending must hold at most ${UPLOAD_MAX_PENDING} entries`);
    this.#clearing = {
      svmCounter: 0,
      logSeq: 0,
      log: [],
      pending: pending.map(({ rv, ...p }) => ({
        ...p,
        csn: toHex(p.csn),
        dateTime: toHex(p.dateTime),
        ...(rv ? { rv: toHex(rv) } : {}),
      })),
      blacklistVersion: 0,
      blacklist: [],
      keyVersions: [],
      cardKeyVersions: [],
    };
  }

  /** The SVM log records kept, oldest first, with the sequence number of the first (tests). */
  svmLog(): { oldest: number; records: Uint8Array[] } {
    const c = this.#clearing;
    return { oldest: c.logSeq - c.log.length, records: c.log.map((h) => fromHex(h)) };
  }

  /** The blacklist held: version and serials (hex, ascending). */
  blacklist(): { version: number; serials: string[]; keyVersions: number[] } {
    const c = this.#clearing;
    return { version: c.blacklistVersion, serials: [...c.blacklist], keyVersions: [...c.keyVersions] };
  }

  /** The transfers still pending. */
  pending(): Array<Omit<PendingEntryWire, 'mac'>> {
    return this.#clearing.pending.map((p) => ({
      ...p,
      csn: fromHex(p.csn),
      dateTime: fromHex(p.dateTime),
      rv: p.rv ? fromHex(p.rv) : new Uint8Array(8),
    }));
  }

  #writeLog(type: number, ref: Uint8Array, amount: number, dateTime: Uint8Array): void {
    const c = this.#clearing;
    const rec = new SvmLogRecord(type, ref, amount, this.balance, c.svmCounter, dateTime);
    c.log.push(toHex(rec.encode()));
    if (c.log.length > this.#logCapacity) c.log.shift();
    c.logSeq++;
  }

  /** The consumption log (tests add consumption through it). */
  get log(): ConsumptionLog {
    return this.#log;
  }

  /** The tariff table in force at the meter clock. */
  activeTable(): TariffTable {
    const p = this.#pendingTable;
    if (p && this.clock >= p.activation.seconds) {
      this.#table = p.table;
      this.#pendingTable = undefined;
    }
    return this.#table;
  }

  /** Adds consumption (Wh) at the meter clock: energy register and log. */
  consume(wh: number): void {
    this.energyWh += wh;
    this.#log.advanceTo(this.clock);
    this.#log.add(wh * 1000); // the log counts mWh (minute unit 10 mWh, total unit 1000 mWh)
  }

  /** As a {@link Terminal} (no link: a direct call). */
  asTerminal(): Terminal {
    return terminalOverMessages(async (b) => this.handle(b));
  }

  /** A copy of the persistent state. */
  exportState(): SimulatedMeterState {
    return {
      balance: this.balance,
      maxBalance: this.maxBalance,
      recent: [...this.#recent],
      clock: this.clock,
      table: this.#table.encode(),
      pendingTable: this.#pendingTable && {
        activation: this.#pendingTable.activation.seconds,
        table: this.#pendingTable.table.encode(),
      },
      energyWh: this.energyWh,
      flags: this.flags,
      clearing: structuredClone(this.#clearing),
      cardCommands: structuredClone(this.#cards),
    };
  }

  /** Power loss and restore: volatile session gone, persistent state from `s`. */
  restoreState(s: SimulatedMeterState): void {
    this.#session = undefined;
    this.balance = s.balance;
    this.maxBalance = s.maxBalance;
    this.#recent.clear();
    for (const [k, v] of s.recent) this.#recent.set(k, v);
    this.clock = s.clock;
    this.#table = TariffTable.decode(s.table);
    this.#pendingTable = s.pendingTable && {
      activation: RtcTime.fromSeconds(s.pendingTable.activation),
      table: TariffTable.decode(s.pendingTable.table),
    };
    this.energyWh = s.energyWh;
    this.flags = s.flags;
    this.#clearing = s.clearing
      ? structuredClone(s.clearing)
      : {
          svmCounter: 0,
          logSeq: 0,
          log: [],
          pending: [],
          blacklistVersion: 0,
          blacklist: [],
          keyVersions: [],
          cardKeyVersions: [],
        };
    this.#cards = s.cardCommands
      ? structuredClone(s.cardCommands)
      : { nextSeq: 1, queue: [], outbox: [], finished: [] };
  }

  /** Relay ids queued, in id order (tests). */
  queuedCardCommands(): CardCommand[] {
    return this.#cards.queue.map((q) => ({ ...q, csn: fromHex(q.csn), data: fromHex(q.data) }));
  }

  /**
   * Stands in for a card at the (absent) slot: the card answered queued command `id` with `sw` and
   * `data`; `final` (default true) moves it to the outbox, else it stays queued, reported waiting.
   * @throws RangeError when `id` is not queued.
   */
  cardAnswered(id: number, sw: number, data: Uint8Array = new Uint8Array(0), final = true): void {
    const c = this.#cards;
    const i = c.queue.findIndex((q) => q.id === id);
    if (i < 0) throw new RangeError(`card command ${id} is not queued`);
    if (!final) {
      c.queue[i]!.lastSw = sw;
      return;
    }
    c.queue.splice(i, 1);
    c.outbox.push({ seq: c.nextSeq++, kind: 'answer', id, sw, data: toHex(data) });
    c.finished = [...c.finished, id].slice(-256);
  }

  /** Stands in for the slot finding an offline reading (SFI 04 record) on a card. */
  readingFound(csn: Uint8Array, purse: number, record: Uint8Array): void {
    const c = this.#cards;
    c.outbox.push({ seq: c.nextSeq++, kind: 'reading', csn: toHex(csn), purse, record: toHex(record) });
  }

  /** Drops the open session (what a power cycle does to the volatile part). */
  powerCycle(): void {
    this.#session = undefined;
  }

  /** One encoded message in, one encoded answer out; never throws on bad input (refuses instead). */
  handle(bytes: Uint8Array): Uint8Array {
    let m: Message;
    try {
      m = decodeMessage(bytes);
    } catch {
      this.#session = undefined;
      return encodeMessage({ kind: 'refusal', reason: REFUSE_MALFORMED });
    }
    return encodeMessage(this.#answer(m));
  }

  #refuse(reason: number): Message {
    return { kind: 'refusal', reason };
  }

  #answer(m: Message): Message {
    if (m.kind === 'init-request') {
      const kt = this.#keys.get(m.n);
      this.#session = undefined;
      const whitelist = this.#clearing.keyVersions;
      if (!kt || (whitelist.length > 0 && !whitelist.includes(m.n)))
        return this.#refuse(REFUSE_UNKNOWN_KEY_VERSION);
      this.#session = { ...terminalOpen(this.#cipher, this.#rng, kt, m), n: m.n };
      return this.#session.response;
    }
    if (m.kind !== 'command-request') return this.#refuse(REFUSE_MALFORMED);
    const s = this.#session;
    // A session serves exactly one command: a replayed or duplicated command finds none.
    this.#session = undefined;
    if (!s) return this.#refuse(REFUSE_NO_SESSION);
    if (!terminalVerify(this.#cipher, s, m)) return this.#refuse(REFUSE_BAD_SIGNATURE);
    try {
      switch (m.h) {
        case H_VALUE_STORE:
          return this.#valueStore(s, m.payload);
        case H_TARIFF:
          return this.#tariff(s, m.payload);
        case H_USAGE:
          return this.#usage(s, m.payload);
        case H_CLEARING_UPLOAD:
          return this.#upload(s, m.payload);
        case H_BLACKLIST:
          return this.#blacklist(s, m.payload);
        case H_SETTLE:
          return this.#settle(s, m.payload);
        case H_CARD_COMMANDS:
          return this.#cardCommands(s, m.payload);
        default:
          return this.#refuse(REFUSE_UNKNOWN_HEADER);
      }
    } catch (e) {
      if (e instanceof MalformedDataError) return this.#refuse(REFUSE_BAD_PAYLOAD);
      throw e;
    }
  }

  #reply(s: TerminalOpened, plain: Uint8Array): Message {
    return { kind: 'command-response', m: encrypt(this.#cipher, s.ks, plain) };
  }

  #valueStore(s: TerminalOpened, enAmnt: Uint8Array): Message {
    const { amount, txId } = decodeValueStorePlain(decrypt(this.#cipher, s.ks, enAmnt));
    const seen = this.#recent.get(txId);
    if (seen !== undefined) {
      return this.#reply(
        s,
        encodeValueStoreAnswer({
          status: VS_DUPLICATE,
          txId,
          balanceAfter: seen,
          balance: this.balance,
          id: this.id,
        }),
      );
    }
    if (this.balance + amount > this.maxBalance) {
      return this.#reply(
        s,
        encodeValueStoreAnswer({
          status: VS_REFUSED_MAX_BALANCE,
          txId,
          balanceAfter: this.balance,
          balance: this.balance,
          id: this.id,
        }),
      );
    }
    // BALANCE = BALANCE + AMOUNT (STORE VALUE), and the id remembered, in one step.
    this.balance += amount;
    this.creditsApplied++;
    this.#clearing.svmCounter++;
    this.#writeLog(
      LOG_HOST_CREDIT,
      concatBytes(encodeTxId(txId), new Uint8Array(2)),
      amount,
      new Uint8Array(6),
    );
    this.#recent.set(txId, this.balance);
    if (this.#recent.size > RECENT_TX) this.#recent.delete(this.#recent.keys().next().value!);
    return this.#reply(
      s,
      encodeValueStoreAnswer({
        status: VS_CREDITED,
        txId,
        balanceAfter: this.balance,
        balance: this.balance,
        id: this.id,
      }),
    );
  }

  #tariff(s: TerminalOpened, payload: Uint8Array): Message {
    const p = decodeTariffPayload(payload);
    this.#pendingTable = { activation: p.activation, table: p.table };
    this.activeTable();
    return this.#reply(
      s,
      encodeTariffAnswer({
        status: TARIFF_STORED,
        balance: this.balance,
        activation: p.activation,
        id: this.id,
      }),
    );
  }

  #usage(s: TerminalOpened, payload: Uint8Array): Message {
    const time = decodeUsagePayload(payload);
    const timer = RtcTime.fromSeconds(this.clock);
    this.#log.advanceTo(Math.max(this.clock, this.#log.openMinute));
    const info = encodeUsageInfo({
      log: this.#log.encode(),
      table: this.activeTable(),
      timer,
      energyWh: this.energyWh,
      flags: this.flags,
      balance: this.balance,
      id: this.id,
    });
    // SET TIME (AMEND TIME) after the Info is taken, so Timer shows the drift.
    this.clock = time.seconds;
    return this.#reply(s, info);
  }

  /** Balance ‖ ID, what the SAM appends to the H = 55 and 56 bodies. */
  #tail(): Uint8Array {
    return concatBytes(be32(this.balance), this.id);
  }

  #upload(s: TerminalOpened, payload: Uint8Array): Message {
    const req = decodeUploadRequest(payload);
    const c = this.#clearing;
    const key = this.#svmKey;
    // READ PENDING P1 = 01 for the host's challenge: signed under K_svm (zeros without a key)
    const pending: PendingEntryWire[] = this.pending().map((p) => ({
      ...p,
      mac: key
        ? this.#purseCrypto.mac(key, pendingMacInput(this.id, p.slot, pendingRecordOf(p), req.challenge))
        : new Uint8Array(8),
    }));
    const max = Math.floor((UPLOAD_PAGE_BUDGET - uploadBodyBaseSize(pending.length)) / SVM_RECORD_WIRE_SIZE);
    const oldest = c.logSeq - c.log.length;
    const start = Math.min(Math.max(req.svmFrom, oldest), c.logSeq);
    const svmRecords: SvmRecordWire[] = [];
    if (key)
      for (let seq = start; seq < c.logSeq && svmRecords.length < max; seq++) {
        const record = fromHex(c.log[seq - oldest]!);
        svmRecords.push({ record, mac: this.#purseCrypto.mac(key, svmLogMacInput(this.id, record)) });
      }
    // Beyond the newest (or no key): nothing, and the host asks again from where it stands.
    const svmNext = svmRecords.length > 0 ? start + svmRecords.length : req.svmFrom;
    const body = encodeUploadBody({
      blacklistVersion: c.blacklistVersion,
      next: req.from,
      oldest: req.from,
      svmNext,
      moreJournal: false,
      moreSvm: key !== undefined && svmNext < c.logSeq,
      pending,
      svmRecords,
      journal: [],
    });
    return this.#reply(s, concatBytes(body, this.#tail()));
  }

  #blacklist(s: TerminalOpened & { n: number }, payload: Uint8Array): Message {
    const u = decodeBlacklistUpdate(payload);
    const c = this.#clearing;
    const answer = (status: number) =>
      this.#reply(
        s,
        concatBytes(
          encodeBlacklistBody({ status, version: c.blacklistVersion, count: c.blacklist.length }),
          this.#tail(),
        ),
      );
    if (u.version <= c.blacklistVersion) return answer(BL_STALE);
    if (u.mode === 'delta' && u.base !== c.blacklistVersion) return answer(BL_BASE_MISMATCH);
    const next = new Set(u.mode === 'full' ? [] : c.blacklist);
    for (const x of u.add) next.add(toHex(x));
    for (const x of u.remove) next.delete(toHex(x));
    if (next.size > BLACKLIST_CAPACITY) return answer(BL_FULL);
    if (u.keyVersions.length > 0 && !u.keyVersions.includes(s.n)) return answer(BL_LOCKOUT);
    c.blacklist = [...next].sort();
    if (u.mode === 'full' || u.keyVersions.length > 0) c.keyVersions = [...u.keyVersions];
    const cardKeys = u.cardKeyVersions ?? [];
    if (u.mode === 'full' || cardKeys.length > 0) c.cardKeyVersions = [...cardKeys];
    c.blacklistVersion = u.version;
    return answer(BL_APPLIED);
  }

  /** H = 57 as the meter's CardCommandQueue.serve answers it (no card slot: nothing delivered here). */
  #cardCommands(s: TerminalOpened, payload: Uint8Array): Message {
    const req = decodeCardCommandsRequest(payload);
    const c = this.#cards;
    c.outbox = c.outbox.filter((e) => e.seq >= req.ackBelow);
    for (const id of req.forget) {
      if (!c.queue.some((q) => q.id === id)) continue;
      c.queue = c.queue.filter((q) => q.id !== id);
      c.finished = [...c.finished, id].slice(-256);
    }
    const empty = new Uint8Array(0);
    const answers: CardAnswer[] = [];
    for (const x of req.commands) {
      const known =
        c.finished.includes(x.id) ||
        c.queue.some((q) => q.id === x.id) ||
        c.outbox.some((e) => e.kind === 'answer' && e.id === x.id);
      if (known) continue;
      const lc = CARD_COMMAND_LC[x.ins];
      const refused =
        lc === undefined
          ? REFUSED_INS
          : x.data.length !== lc
            ? REFUSED_LENGTH
            : c.queue.length >= CARD_COMMAND_CAPACITY
              ? REFUSED_FULL
              : undefined;
      if (refused !== undefined) {
        answers.push({ seq: 0, id: x.id, outcome: OUTCOME_REFUSED, sw: refused, data: empty });
        continue;
      }
      c.queue.push({ id: x.id, csn: toHex(x.csn), ins: x.ins, p2: x.p2, data: toHex(x.data) });
      c.queue.sort((a, b) => a.id - b.id);
    }
    const readings: OfflineReadingWire[] = [];
    let next = c.outbox[0]?.seq ?? c.nextSeq;
    let more = false;
    for (const e of c.outbox) {
      const full =
        e.kind === 'answer'
          ? answers.length >= CARD_ANSWERS_PER_MESSAGE
          : readings.length >= CARD_READINGS_PER_MESSAGE;
      if (full) {
        more = true;
        break;
      }
      if (e.kind === 'answer')
        answers.push({ seq: e.seq, id: e.id, outcome: OUTCOME_CARD, sw: e.sw, data: fromHex(e.data) });
      else readings.push({ seq: e.seq, csn: fromHex(e.csn), purse: e.purse, record: fromHex(e.record) });
      next = e.seq + 1;
    }
    for (const q of c.queue)
      if (q.lastSw !== undefined && answers.length < CARD_ANSWERS_PER_MESSAGE)
        answers.push({ seq: 0, id: q.id, outcome: OUTCOME_WAITING, sw: q.lastSw, data: empty });
    const body = encodeCardCommandsBody({ queued: c.queue.length, next, more, answers, readings });
    return this.#reply(s, concatBytes(body, this.#tail()));
  }

  #settle(s: TerminalOpened, payload: Uint8Array): Message {
    const p = SettlePayload.decode(payload);
    if ((p.decision !== SETTLE_COMPLETE && p.decision !== SETTLE_CANCEL) || p.slot >= SVM_PENDING_SLOTS)
      return this.#refuse(REFUSE_BAD_PAYLOAD);
    const c = this.#clearing;
    const answer = (status: number, record?: Uint8Array) =>
      this.#reply(
        s,
        concatBytes(
          Uint8Array.of(status),
          payload,
          be32(this.balance),
          be32(c.svmCounter),
          record ?? new Uint8Array(29),
          this.id,
        ),
      );
    const txId = decodeTxId(p.txId);
    if (this.#recent.has(txId)) return answer(SETTLE_DUPLICATE);
    const i = c.pending.findIndex(
      (x) =>
        x.slot === p.slot &&
        x.csn === toHex(p.csn) &&
        x.purse === p.purse &&
        x.counter === p.counter &&
        x.amount === p.amount,
    );
    if (i < 0) return answer(SETTLE_NO_SUCH_PENDING);
    const [x] = c.pending.splice(i, 1);
    const complete = p.decision === SETTLE_COMPLETE;
    if (complete) {
      this.balance += p.amount;
      c.svmCounter++;
    }
    this.#writeLog(
      complete ? LOG_SETTLE_COMPLETE : LOG_SETTLE_CANCEL,
      concatBytes(p.csn, be16(p.counter)),
      p.amount,
      fromHex(x!.dateTime),
    );
    this.settlementsApplied++;
    this.#recent.set(txId, this.balance);
    if (this.#recent.size > RECENT_TX) this.#recent.delete(this.#recent.keys().next().value!);
    return answer(complete ? SETTLED_COMPLETE : SETTLED_CANCEL, fromHex(c.log[c.log.length - 1]!));
  }
}
