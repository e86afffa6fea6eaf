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
 */
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { ConsumptionLog } from '../../protocol/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import {
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
import { decodeMessage, encodeMessage } from '../../protocol/index.js';
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

/** How many value-store results the terminal remembers. */
export const RECENT_TX = 64;

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
}

export class SimulatedMeterTerminal implements MessageEndpoint {
  readonly id: Uint8Array;
  readonly #cipher: BlockCipherProvider;
  readonly #rng: Rng;
  readonly #keys: Map<number, Uint8Array>;
  readonly #recent = new Map<bigint, number>();
  #session: TerminalOpened | undefined;
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
      if (!kt) return this.#refuse(REFUSE_UNKNOWN_KEY_VERSION);
      this.#session = terminalOpen(this.#cipher, this.#rng, kt, m);
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
}
