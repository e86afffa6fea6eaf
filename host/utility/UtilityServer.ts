/**
 * A utility's own server (issue 17): the gas, water or heat utility u that owns purse u of the
 * subscriber cards. It holds u's masters (an {@link IssuerKeys} of its own: MK_credit[u] makes
 * K_remote, KH[u][n] makes K_offline), so it alone can sign what its purse accepts; the electricity
 * host's relay only carries the bytes (host/relay/RelayService.ts).
 *
 * The rules it keeps:
 * 1. One message per (CSN, purse, seq), ever: `sell` allocates the seq and signs the REMOTE LOAD in
 *    the same transaction that records the sale, and a re-send is always those same bytes. So the
 *    card's "already applied" (seq ≤ last) is as definite as "applied".
 * 2. Value is booked on the card only on a receipt that verifies ('A' MAC under K_remote, which only
 *    the card holds besides us). A receipt that does not verify books nothing; the same signed load
 *    is sent again, and the card — which applies a seq once — answers with its genuine receipt.
 *    A refusal is unauthenticated and books nothing either (the value stays in transit, noted).
 * 3. Double entry: sale Dr cash / Cr in-transit; verified receipt Dr in-transit / Cr on-card. So
 *    sum(sold) = in transit + on card at every commit (`balanceCheck`).
 * 4. A reading is stored only when its 'M' MAC verifies under K_offline of its own meter id and KT
 *    version, once per (meter id, reading seq); only a stored reading is ever cleared (CLEAR READINGS
 *    names the reading's MAC, so it clears that reading and nothing newer). A tampered one is refused
 *    with a reason and an event and stays on the card.
 * 5. Everything sent to the relay goes through the outbox: written in the transaction that decided
 *    it, submitted after the commit under a reference the relay de-duplicates, so a crash anywhere
 *    re-submits the same command at most as a repeat.
 * 6. A vending point is a second carrier of the same signed bytes (host/utility/vend.ts): it takes
 *    what is outstanding for the card in its reader (`outstanding`) and hands each answer back
 *    (`settleVended*`), which books it by rules 2 and 3 exactly as a relay answer. The card's seq
 *    (loads) and version (configurations) make the second delivery harmless, whichever carrier is
 *    first: a relay answer for a sale already on the card, a configuration already applied (9407)
 *    or a reading already cleared (6985) changes nothing and is no refusal.
 */
import {
  IssuerKeys,
  OfflineReading,
  SW_REPLAY,
  bcdDateTime,
  signClearReadings,
  signOfflineConfig,
  signRemoteLoad,
  toHex,
  u16,
  u32,
  verifyOfflineReading,
  verifyRemoteReceipt,
} from '../../card/index.js';
import { MalformedDataError } from '../../card/index.js';
import { RtcTime } from '../../protocol/index.js';
import { ServiceError } from '../service/ServiceError.js';
import { anomaliesOf, JUMP_MIN_HISTORY } from './anomalies.js';
import type { OutboxEntry, UtilityDb } from './db/UtilityDb.js';
import { RelayPortError, type RelayCommandStatus, type RelayPort } from './RelayPort.js';

const INS_REMOTE_LOAD = 0x56;
const INS_PUT_CONFIG = 0x58;
const INS_CLEAR_READINGS = 0x5a;
const SW_OK = 0x9000;
const SW_CONDITIONS = 0x6985;
/** Times a sale's load is sent again after an answer whose receipt did not verify. */
export const MAX_LOAD_SENDS = 4;
const U32_MAX = 0xffff_ffff;

export interface UtilityServerOptions {
  readonly db: UtilityDb;
  /** This utility's masters (only its own purse's matter). */
  readonly issuer: IssuerKeys;
  /** The purse this utility owns (2..15). */
  readonly purse: number;
  readonly relay: RelayPort;
  /** Milliseconds since 1970 (the REMOTE LOAD and config date-times). */
  readonly clock: () => number;
  /** This utility's point-of-sale id in the card log (4 bytes). */
  readonly sellerId: Uint8Array;
  /** KT version n for K_offline of new configurations (default: the highest KH version held). */
  readonly ktVersion?: number;
}

/** What became of one record given to {@link UtilityServer.ingestReadings}. */
export interface IngestedReading {
  readonly status: 'stored' | 'duplicate' | 'conflict' | 'refused' | 'empty';
  /** Why it was refused: malformed, other-purse, bad-mac. */
  readonly reason?: 'malformed' | 'other-purse' | 'bad-mac';
  readonly meterId?: string;
  readonly seq?: number;
  readonly anomalies?: readonly string[];
  /** CLEAR READINGS data for this record (only for an authentic one). */
  readonly clear?: Uint8Array;
}

/** What a utility has outstanding for one card purse: what a vending point delivers (rule 6). */
export interface Outstanding {
  /** Sales in transit, by seq: the REMOTE LOAD data (26 bytes) each was signed with. */
  readonly loads: ReadonlyArray<{ ref: string; seq: number; amount: number; data: Uint8Array }>;
  /**
   * The newest configuration unless a vending point's card showed it applied (applied on the relay's
   * word only is still here: its answer carries no receipt): its SFI 03 record and PUT CONFIG data (44 bytes).
   */
  readonly config: { version: number; meterId: string; record: Uint8Array; data: Uint8Array } | null;
  /** Stored readings not confirmed cleared, each with its CLEAR READINGS data (16 bytes). */
  readonly clears: ReadonlyArray<{ meterId: string; seq: number; readingMac: Uint8Array; data: Uint8Array }>;
}

/** How the server took a vending point's card answer (rule 6). */
export type VendedResult =
  | 'booked' // a receipt that verifies booked the sale on the card now
  | 'already-booked' // the receipt verifies; the sale was on the card already (another carrier was first)
  | 'not-booked' // no verifiable receipt: the sale stays in transit (noted, an event)
  | 'applied' // the card took the configuration (9000), or holds exactly its record already
  | 'refused' // the card refused the configuration (the relay's refused state and event)
  | 'cleared' // the card cleared the reading (9000)
  | 'already-cleared' // 6985 for a reading a carrier had cleared already: no error
  | 'not-cleared'; // 6985 for a reading still uncleared (a newer one is there), or another SW

export interface BalanceCheck {
  sold: number;
  inTransit: number;
  onCard: number;
  /** Debits = credits, the ledger's accounts equal the sales' totals, and sold = in transit + on card. */
  balanced: boolean;
}

function csnHex(csn: Uint8Array | string): string {
  const h = typeof csn === 'string' ? csn.toUpperCase() : toHex(csn).toUpperCase();
  if (!/^[0-9A-F]{16}$/.test(h)) throw new RangeError('csn must be 8 bytes (16 hex digits)');
  return h;
}
const bytesOf = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
/** A stored SFI 04 record's date-time (bytes 9..14) in RTC seconds; nothing when it is not a date. */
function timeOf(record: Uint8Array): { at?: number } {
  try {
    return { at: RtcTime.decodeBcd(record, 9).seconds };
  } catch (e) {
    if (e instanceof MalformedDataError) return {};
    throw e;
  }
}

export class UtilityServer {
  readonly db: UtilityDb;
  readonly purse: number;
  readonly #o: UtilityServerOptions;
  readonly #ktVersion: number;

  /** @throws RangeError naming `purse`, `sellerId` or `ktVersion` when they do not fit the issuer. */
  constructor(o: UtilityServerOptions) {
    if (!Number.isInteger(o.purse) || o.purse < 2 || o.purse > 15)
      throw new RangeError(`purse must be 2..15, got ${o.purse}`);
    if (!o.issuer.purses.includes(o.purse))
      throw new RangeError(`purse: the issuer has no keys for purse ${o.purse}`);
    if (!(o.sellerId instanceof Uint8Array) || o.sellerId.length !== 4)
      throw new RangeError('sellerId must be 4 bytes');
    const versions = o.issuer.utility(o.purse).host.map(([n]) => n);
    const kt = o.ktVersion ?? Math.max(...versions);
    if (!versions.includes(kt)) throw new RangeError(`ktVersion: the utility has no KH version ${kt}`);
    this.db = o.db;
    this.purse = o.purse;
    this.#o = o;
    this.#ktVersion = kt;
  }

  // ------------------------------------------------------------------ sales

  /**
   * Sells `amount` onto this utility's purse of card `csn` (rules 1, 3, 5). Idempotent by `ref`:
   * the same sale again answers the stored one; the ref with another card or amount is refused.
   * The load is submitted to the relay after the commit; a relay that cannot be reached leaves it
   * in the outbox for the next `flush` / `poll`.
   * @throws RangeError naming `amount`, `ref` (1..48 characters, no ':') or `csn`; ServiceError 409 ref-reused;
   *   HostDbError 'exhausted' when the purse's seqs are used up.
   */
  async sell(
    csn: Uint8Array | string,
    amount: number,
    ref: string,
  ): Promise<{ ref: string; seq: number; state: 'in-transit' | 'on-card'; relayId: number | null }> {
    const c = csnHex(csn);
    if (!Number.isInteger(amount) || amount < 1 || amount > U32_MAX)
      throw new RangeError(`amount must be 1..${U32_MAX}, got ${amount}`);
    // no ':' — the outbox refs are L:<ref> and, for re-sends, L:<ref>:<n>; a sale 'x:2' would
    // otherwise collide with the 2nd send of sale 'x' and its load would never be queued
    if (typeof ref !== 'string' || ref.length < 1 || ref.length > 48 || ref.includes(':'))
      throw new RangeError("ref must be 1..48 characters without ':'");
    const sale = this.db.tx(() => {
      const prior = this.db.sale(ref);
      if (prior) {
        if (prior.csn !== c || prior.amount !== amount)
          throw new ServiceError(409, 'ref-reused', `sale ${ref} was made for another card or amount`, 'ref');
        return prior;
      }
      const seq = this.db.nextSeqInTx(c, this.purse);
      const dateTime = bcdDateTime(this.#o.clock());
      const data = signRemoteLoad(this.#o.issuer, {
        csn: bytesOf(c),
        purse: this.purse,
        seq,
        amount,
        sellerId: this.#o.sellerId,
        dateTime,
      });
      this.db.insertSaleInTx({
        ref,
        csn: c,
        purse: this.purse,
        seq,
        amount,
        sellerId: this.#o.sellerId,
        dateTime,
        data,
      });
      this.db.queueInTx({
        ref: `L:${ref}`,
        kind: 'load',
        subject: ref,
        csn: c,
        purse: this.purse,
        ins: INS_REMOTE_LOAD,
        data,
      });
      return this.db.sale(ref)!;
    });
    await this.flush();
    const sent = this.db.outbox('submitted').find((e) => e.subject === ref && e.kind === 'load');
    return { ref, seq: sale.seq, state: this.db.sale(ref)!.state, relayId: sent?.relayId ?? null };
  }

  /** The sale with this reference. */
  sale(ref: string): ReturnType<UtilityDb['sale']> {
    return this.db.sale(ref);
  }

  /** Rule 3, checked: the ledger against the sales. */
  balanceCheck(): BalanceCheck {
    const f = this.db.ledgerFigures();
    const cash = f.accounts['cash'] ?? 0;
    const transit = -(f.accounts['in-transit'] ?? 0);
    const card = -(f.accounts['on-card'] ?? 0);
    return {
      sold: f.sold,
      inTransit: f.inTransit,
      onCard: f.onCard,
      balanced:
        f.debits === f.credits &&
        cash === f.sold &&
        transit === f.inTransit &&
        card === f.onCard &&
        f.sold === f.inTransit + f.onCard,
    };
  }

  // ------------------------------------------------------------------ configuration

  /**
   * Signs a configuration for this utility's purse of card `csn` (the next version for that card
   * purse) and queues PUT CONFIG through the relay.
   * @throws RangeError naming the field that does not fit (`unitCharge` must be 1..2^32-1).
   */
  async configure(
    csn: Uint8Array | string,
    c: { meterId: string; emergencyLimit: number; unitCharge: number; blacklistVersion: number },
  ): Promise<{ version: number; record: Uint8Array }> {
    const h = csnHex(csn);
    if (!/^[0-9A-Fa-f]{6}$/.test(c.meterId)) throw new RangeError('meterId must be 3 bytes (6 hex digits)');
    // a unit charge of 0 is no tariff: every meter rejects it (Meter.applyOfflineConfig), yet the card
    // would take it and the relay would mark it applied (red team R3)
    if (!Number.isInteger(c.emergencyLimit) || c.emergencyLimit < 0 || c.emergencyLimit > U32_MAX)
      throw new RangeError(`emergencyLimit must be 0..${U32_MAX}, got ${c.emergencyLimit}`);
    if (!Number.isInteger(c.unitCharge) || c.unitCharge < 1 || c.unitCharge > U32_MAX)
      throw new RangeError(`unitCharge must be 1..${U32_MAX}, got ${c.unitCharge}`);
    const meterId = c.meterId.toUpperCase();
    const out = this.db.tx(() => {
      const version = this.db.nextConfigVersionInTx(h, this.purse);
      const { record, cardMac } = signOfflineConfig(this.#o.issuer, bytesOf(h), {
        meterId: bytesOf(meterId),
        purse: this.purse,
        version,
        issued: bcdDateTime(this.#o.clock()),
        emergencyLimit: c.emergencyLimit,
        unitCharge: c.unitCharge,
        blacklistVersion: c.blacklistVersion,
        ktVersion: this.#ktVersion,
      });
      this.db.insertConfigInTx({ csn: h, purse: this.purse, version, meterId, record });
      this.db.queueInTx({
        ref: `C:${h}:${version}`,
        kind: 'config',
        subject: String(version),
        csn: h,
        purse: this.purse,
        ins: INS_PUT_CONFIG,
        data: Uint8Array.of(...record, ...cardMac),
      });
      return { version, record };
    });
    await this.flush();
    return out;
  }

  // ------------------------------------------------------------------ readings

  /**
   * Checks and stores offline readings (SFI 04 records) of card `csn` (rule 4), from the relay or
   * a vending point, each in its own transaction. An authentic record gets its CLEAR READINGS:
   * queued to the relay when it came from the relay (`source: 'relay'`), and returned in `clear`
   * for a vending point to send to the card itself.
   */
  ingestReadings(
    csn: Uint8Array | string,
    records: readonly Uint8Array[],
    source: 'relay' | 'vending' = 'relay',
  ): IngestedReading[] {
    const h = csnHex(csn);
    const csnBytes = bytesOf(h);
    return records.map((raw) => {
      let r: OfflineReading;
      try {
        r = OfflineReading.decode(raw);
      } catch (e) {
        if (!(e instanceof MalformedDataError)) throw e;
        this.db.event('malformed-reading', h, `${e.message} at ${e.offset}`);
        return { status: 'refused', reason: 'malformed' };
      }
      if (r.isEmpty) return { status: 'empty' };
      const meterId = toHex(r.meterId).toUpperCase();
      if (r.purse !== this.purse) {
        this.db.event('foreign-reading', h, `reading of purse ${r.purse} from meter ${meterId}`);
        return { status: 'refused', reason: 'other-purse', meterId, seq: r.sequence };
      }
      if (!verifyOfflineReading(this.#o.issuer, csnBytes, raw)) {
        this.db.event(
          'tampered-reading',
          h,
          `meter ${meterId} seq ${r.sequence}: MAC does not verify (not stored, not cleared)`,
        );
        return { status: 'refused', reason: 'bad-mac', meterId, seq: r.sequence };
      }
      const mac = toHex(r.mac).toUpperCase();
      const clear = signClearReadings(this.#o.issuer, csnBytes, this.purse, r.mac);
      return this.db.tx((): IngestedReading => {
        const prior = this.db.reading(meterId, r.sequence);
        let status: IngestedReading['status'];
        let anomalies: readonly string[];
        if (prior) {
          if (toHex(prior.record) === toHex(raw)) {
            status = 'duplicate';
            anomalies = prior.anomalies;
          } else {
            status = 'conflict';
            anomalies = ['sequence-repeat-differs'];
            if (this.db.insertConflictInTx(meterId, r.sequence, h, raw))
              this.db.event(
                'reading-conflict',
                h,
                `meter ${meterId} seq ${r.sequence}: another authentic record`,
              );
          }
        } else {
          const prev = this.db.previousReading(meterId, r.sequence);
          anomalies = anomaliesOf(
            { meterId, sequence: r.sequence, cumulative: r.cumulative, events: r.events, ...timeOf(raw) },
            prev && { seq: prev.seq, cumulative: prev.cumulative, ...timeOf(prev.record) },
            this.db
              .recentReadings(meterId, r.sequence, 4 * JUMP_MIN_HISTORY)
              .map((x) => ({ cumulative: x.cumulative, ...timeOf(x.record) })),
            this.db.boundMeters(h, this.purse),
          );
          this.db.insertReadingInTx({
            meterId,
            seq: r.sequence,
            csn: h,
            purse: this.purse,
            record: raw,
            mac,
            cumulative: r.cumulative,
            events: r.events,
            anomalies,
            source,
          });
          if (anomalies.length > 0)
            this.db.event(
              'reading-anomaly',
              h,
              `meter ${meterId} seq ${r.sequence}: ${anomalies.join(', ')}`,
            );
          status = 'stored';
        }
        if (source === 'relay')
          this.db.queueInTx({
            ref: `X:${h}:${mac}`,
            kind: 'clear',
            subject: mac,
            csn: h,
            purse: this.purse,
            ins: INS_CLEAR_READINGS,
            data: clear,
          });
        return { status, meterId, seq: r.sequence, anomalies, clear };
      });
    });
  }

  // ------------------------------------------------------------------ a vending point (rule 6)

  /**
   * What this utility has outstanding for its purse of card `csn`: the sales in transit, the newest
   * configuration unless applied, the readings not confirmed cleared — each with the very bytes it
   * was signed with (the outbox's; a CLEAR READINGS is a deterministic MAC over the reading's MAC).
   * @throws RangeError naming `csn`.
   */
  outstanding(csn: Uint8Array | string): Outstanding {
    const h = csnHex(csn);
    const loads = this.db
      .salesInTransit(h, this.purse)
      .map((x) => ({ ref: x.ref, seq: x.seq, amount: x.amount, data: x.data }));
    const newest = this.db.newestConfig(h, this.purse);
    // 'applied' on a carrier's word (the relay's 9000 or 9407: a PUT CONFIG has no receipt) stays
    // outstanding until a card in a vending point's reader shows it (red team R3)
    const queued =
      newest && (newest.state !== 'applied' || !newest.onCard)
        ? this.db.outboxEntry(`C:${h}:${newest.version}`)
        : undefined;
    const config =
      newest && queued
        ? { version: newest.version, meterId: newest.meterId, record: newest.record, data: queued.data }
        : null;
    const clears = this.db.unclearedReadings(h, this.purse).map((r) => {
      const mac = bytesOf(r.mac);
      const data =
        this.db.outboxEntry(`X:${h}:${r.mac}`)?.data ??
        signClearReadings(this.#o.issuer, bytesOf(h), this.purse, mac);
      return { meterId: r.meterId, seq: r.seq, readingMac: mac, data };
    });
    return { loads, config, clears };
  }

  /**
   * A vending point's card answered REMOTE LOAD of sale `ref` with `sw` and `answer` (rules 2, 3, 6):
   * booked only on a receipt that verifies, once whichever carrier's answer comes first. Anything
   * else books nothing and is noted; the sale stays outstanding for the next carrier. Outbox
   * entries of the sale not yet submitted to the relay are retired once it is on the card.
   * @throws RangeError naming `ref` when there is no such sale.
   */
  settleVendedLoad(ref: string, sw: number, answer: Uint8Array): VendedResult {
    const sale = this.db.sale(ref);
    if (!sale || sale.purse !== this.purse)
      throw new RangeError(`ref: no sale ${ref} of purse ${this.purse}`);
    return this.db.tx((): VendedResult => {
      const receipt = answer.length === 15 ? answer.subarray(7, 15) : new Uint8Array(0);
      const authentic =
        sw === SW_OK &&
        answer.length === 15 &&
        (answer[0] === 0x01 || answer[0] === 0x02) &&
        verifyRemoteReceipt(
          this.#o.issuer,
          {
            csn: bytesOf(sale.csn),
            purse: sale.purse,
            seq: sale.seq,
            amount: sale.amount,
            sellerId: sale.sellerId,
            dateTime: sale.dateTime,
          },
          receipt,
        );
      if (!authentic) {
        if (this.db.sale(ref)!.state === 'on-card') return 'already-booked';
        const why =
          sw === SW_OK
            ? 'the receipt does not verify (not booked)'
            : `refused sw ${hexSw(sw)} (unauthenticated)`;
        this.db.noteSaleInTx(ref, `vending point: ${why}; still in transit`);
        this.db.event(
          sw === SW_OK ? 'forged-receipt' : 'load-refused',
          sale.csn,
          `sale ${ref} seq ${sale.seq}: vending point: ${why}`,
        );
        return 'not-booked';
      }
      const booked = this.db.bookOnCardInTx(ref, {
        outcome: answer[0]!,
        balanceAfter: u32(answer, 1),
        counter: u16(answer, 5),
        receipt,
      });
      this.#retire((e) => e.kind === 'load' && e.subject === ref, sw, answer);
      return booked ? 'booked' : 'already-booked';
    });
  }

  /**
   * A vending point put configuration `version` of card `csn`: the card answered `sw`, or (`'on-card'`)
   * its SFI 03 record is this configuration's already (a PUT CONFIG whose answer was lost at a card
   * pull). 9000 or on-card: applied; anything else: refused as a relay refusal is (rule 6).
   * @throws RangeError naming `version` when there is no such configuration.
   */
  settleVendedConfig(csn: Uint8Array | string, version: number, sw: number | 'on-card'): VendedResult {
    const h = csnHex(csn);
    if (!this.db.configs(h, this.purse).some((c) => c.version === version))
      throw new RangeError(`version: no configuration ${version} of card ${h} purse ${this.purse}`);
    return this.db.tx((): VendedResult => {
      const ok = sw === 'on-card' || sw === SW_OK;
      const cardSw = sw === 'on-card' ? SW_OK : sw;
      this.db.setConfigStateInTx(h, this.purse, version, ok ? 'applied' : 'refused', cardSw);
      if (ok) this.db.confirmConfigOnCardInTx(h, this.purse, version);
      if (!ok) {
        this.db.event('config-refused', h, `version ${version}: vending point: sw ${hexSw(cardSw)}`);
        return 'refused';
      }
      // the configurations not yet handed to the relay, this one and older, need not go now
      this.#retire(
        (e) => e.kind === 'config' && e.csn === h && Number(e.subject) <= version,
        cardSw,
        new Uint8Array(0),
      );
      return 'applied';
    });
  }

  /**
   * A vending point sent CLEAR READINGS for the reading with MAC `readingMac` on card `csn` and the
   * card answered `sw`: 9000 marks it cleared; 6985 for a reading a carrier cleared already is no
   * error; any other answer leaves it uncleared with an event, as from the relay (rule 6).
   */
  settleVendedClear(csn: Uint8Array | string, readingMac: Uint8Array, sw: number): VendedResult {
    const h = csnHex(csn);
    const mac = toHex(readingMac).toUpperCase();
    return this.db.tx((): VendedResult => {
      if (sw === SW_OK) {
        this.db.markClearedInTx(h, mac);
        this.#retire((e) => e.kind === 'clear' && e.csn === h && e.subject === mac, sw, new Uint8Array(0));
        return 'cleared';
      }
      if (sw === SW_CONDITIONS && this.db.readingByMac(h, mac)?.cleared) return 'already-cleared';
      this.db.event(
        sw === SW_CONDITIONS ? 'clear-superseded' : 'clear-refused',
        h,
        `reading ${mac}: vending point: sw ${hexSw(sw)}`,
      );
      return 'not-cleared';
    });
  }

  /** Inside a transaction: outbox entries never submitted that a vending point made needless. */
  #retire(which: (e: OutboxEntry) => boolean, sw: number, answer: Uint8Array): void {
    for (const e of this.db.outbox('new').filter(which))
      this.db.doneInTx(e.ref, { outcome: null, sw, answer });
  }

  /** A vending point cleared the reading with this MAC on card `csn` (the card answered 9000). */
  clearedAtVendingPoint(csn: Uint8Array | string, readingMac: Uint8Array): void {
    this.settleVendedClear(csn, readingMac, SW_OK);
  }

  // ------------------------------------------------------------------ the relay

  /**
   * Submits every new outbox entry, oldest first (rule 5). Stops at the first entry the relay
   * cannot be reached for; a refusal (4xx) is an event and the entry stays for the next try.
   * @returns how many were submitted.
   */
  async flush(): Promise<number> {
    let n = 0;
    for (const e of this.db.outbox('new')) {
      try {
        const s = await this.#o.relay.submit({
          purse: e.purse,
          ref: e.ref,
          csn: e.csn,
          ins: e.ins,
          p2: e.purse,
          data: e.data,
        });
        this.db.submitted(e.ref, s.id);
        n++;
      } catch (err) {
        if (err instanceof RelayPortError && err.status < 500) {
          this.db.event('relay-refused', e.csn, `${e.ref}: ${err.code}: ${err.message}`);
          continue;
        }
        break;
      }
    }
    return n;
  }

  /**
   * One round with the relay: submit what is new, fetch the answers of what was submitted and book
   * them (rules 2, 3), collect the readings the relay holds for this purse (rule 4), and submit the
   * CLEAR READINGS they produced.
   * @returns counts of what this round did.
   */
  async poll(): Promise<{ answered: number; booked: number; readings: number }> {
    await this.flush();
    let answered = 0;
    let booked = 0;
    for (const e of this.db.outbox('submitted')) {
      let s: RelayCommandStatus;
      try {
        s = await this.#o.relay.command(e.relayId!);
      } catch (err) {
        if (err instanceof RelayPortError && err.status < 500) {
          this.db.event('relay-refused', e.csn, `${e.ref}: ${err.code}`);
          continue;
        }
        break;
      }
      if (s.state !== 'answered') continue;
      answered++;
      if (this.#settle(e, s)) booked++;
    }
    let readings = 0;
    for (let after = this.db.cursor('readings'); ;) {
      const page = await this.#o.relay.readings(after);
      for (const g of page.items) {
        if (g.purse === this.purse)
          readings += this.ingestReadings(g.csn, [g.record], 'relay').filter(
            (x) => x.status === 'stored',
          ).length;
        after = g.id;
      }
      this.db.setCursor('readings', after);
      // an empty page that says "more" would ask the same cursor for ever
      if (page.next === null || page.items.length === 0) break;
    }
    await this.flush();
    return { answered, booked, readings };
  }

  /** Books one final answer of the relay. @returns whether value was booked on a card. */
  #settle(e: OutboxEntry, s: RelayCommandStatus): boolean {
    const answer = s.answer ?? new Uint8Array(0);
    const done = { outcome: s.outcome, sw: s.sw, answer };
    return this.db.tx(() => {
      this.db.doneInTx(e.ref, done);
      if (e.kind === 'config') {
        const ok = s.outcome === 0 && s.sw === SW_OK;
        const version = Number(e.subject);
        if (!ok && s.outcome === 0 && s.sw === SW_REPLAY) {
          // 9407: the card holds this version or a newer one — and versions are ours alone (K_remote)
          // and only increase, so another carrier was first (rule 6): the newest version is applied;
          // an older one is superseded. Never a refusal; the state waits for a definite answer.
          const all = this.db.configs(e.csn, e.purse);
          if (all.some((c) => c.version === version && c.state === 'applied')) return false;
          if (all.every((c) => c.version <= version)) {
            this.db.setConfigStateInTx(e.csn, e.purse, version, 'applied', s.sw);
            return false;
          }
          this.db.event(
            'config-superseded',
            e.csn,
            `version ${version}: the card holds a newer version (9407)`,
          );
          return false;
        }
        this.db.setConfigStateInTx(e.csn, e.purse, version, ok ? 'applied' : 'refused', s.sw);
        if (!ok)
          this.db.event(
            'config-refused',
            e.csn,
            `version ${e.subject}: outcome ${s.outcome} sw ${hexSw(s.sw)}`,
          );
        return false;
      }
      if (e.kind === 'clear') {
        if (s.outcome === 0 && s.sw === SW_OK) this.db.markClearedInTx(e.csn, e.subject);
        else if (s.outcome === 0 && s.sw === SW_CONDITIONS && this.db.readingByMac(e.csn, e.subject)?.cleared)
          return false; // a vending point cleared it first (rule 6)
        else
          this.db.event(
            s.sw === SW_CONDITIONS ? 'clear-superseded' : 'clear-refused',
            e.csn,
            `reading ${e.subject}: sw ${hexSw(s.sw)}`,
          );
        return false;
      }
      const sale = this.db.sale(e.subject)!;
      if (sale.state === 'on-card') return false;
      // Any answer but a receipt that verifies is the carriers' word, not the card's: the same
      // signed bytes go again (rule 1), and the card answers its genuine receipt for this seq —
      // "applied" or "already applied" — so a shim's 6300 or a forged 9000 cannot strand a sale.
      const sendAgain = (why: string): false => {
        const sends = this.db.loadAttempts(sale.ref);
        if (sends < MAX_LOAD_SENDS)
          this.db.queueInTx({
            ref: `L:${sale.ref}:${sends + 1}`,
            kind: 'load',
            subject: sale.ref,
            csn: e.csn,
            purse: e.purse,
            ins: INS_REMOTE_LOAD,
            data: sale.data,
          });
        else this.db.noteSaleInTx(sale.ref, `${why}; no verifiable receipt after ${sends} sends`);
        return false;
      };
      if (s.outcome !== 0 || s.sw !== SW_OK) {
        this.db.noteSaleInTx(
          sale.ref,
          `refused: outcome ${s.outcome} sw ${hexSw(s.sw)} (unauthenticated; still in transit)`,
        );
        this.db.event(
          'load-refused',
          e.csn,
          `sale ${sale.ref} seq ${sale.seq}: outcome ${s.outcome} sw ${hexSw(s.sw)}`,
        );
        return sendAgain(`refused ${hexSw(s.sw)}`);
      }
      const fields = {
        csn: bytesOf(sale.csn),
        purse: sale.purse,
        seq: sale.seq,
        amount: sale.amount,
        sellerId: sale.sellerId,
        dateTime: sale.dateTime,
      };
      const receipt = answer.length === 15 ? answer.subarray(7, 15) : new Uint8Array(0);
      if (
        answer.length === 15 &&
        (answer[0] === 0x01 || answer[0] === 0x02) &&
        verifyRemoteReceipt(this.#o.issuer, fields, receipt)
      ) {
        return this.db.bookOnCardInTx(sale.ref, {
          outcome: answer[0]!,
          balanceAfter: u32(answer, 1),
          counter: u16(answer, 5),
          receipt,
        });
      }
      this.db.event(
        'forged-receipt',
        e.csn,
        `sale ${sale.ref} seq ${sale.seq}: the receipt does not verify (not booked)`,
      );
      return sendAgain('receipt did not verify');
    });
  }
}

const hexSw = (sw: number | null) => (sw === null ? 'none' : sw.toString(16).toUpperCase().padStart(4, '0'));
