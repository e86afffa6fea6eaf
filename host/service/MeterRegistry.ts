/**
 * Who and what the host serves: subscribers, their meters (with the KH version each meter's SAM
 * holds and its power-line address) and their cards (with the blacklist). Registering a meter also
 * installs it in the field when the field can (a simulated field makes the meter there).
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import {
  diCardRepository,
  diField,
  diHostDb,
  diKeyService,
  diMeterRepository,
  diSubscriberRepository,
} from '../tokens.js';
import type { FieldPort } from '../tokens.js';
import type { HostDb } from './HostDb.js';
import type { KeyService } from './KeyService.js';
import type { PaymentMethod } from './PaymentGateway.js';
import type { CardRepository } from './db/CardRepository.js';
import type { MeterRecord, MeterRepository } from './db/MeterRepository.js';
import type { SubscriberRepository } from './db/SubscriberRepository.js';
import type { CardRecord } from './db/CardRepository.js';
import type { Page } from './db/paging.js';
import type { SubscriberRecord } from './db/SubscriberRepository.js';
import { ServiceError } from './ServiceError.js';

const U32_MAX = 0xffff_ffff;

/** A card or account number as an operator may see it: all but the last four digits hidden. */
export function maskAccount(account: string): string {
  return '*'.repeat(Math.max(0, account.length - 4)) + account.slice(-4);
}

@injectable()
export class MeterRegistry {
  constructor(
    @inject(diSubscriberRepository) private readonly subscribers: SubscriberRepository,
    @inject(diMeterRepository) private readonly meters: MeterRepository,
    @inject(diCardRepository) private readonly cards: CardRepository,
    @inject(diKeyService) private readonly keys: KeyService,
    @inject(diField) private readonly field: FieldPort,
    @inject(diHostDb) private readonly db: HostDb,
  ) {}

  /** @returns the new subscriber's id. */
  addSubscriber(s: {
    name: string;
    threshold?: number;
    topupAmount?: number;
    topupMethod?: PaymentMethod;
    topupAccount?: string;
  }): number {
    return this.subscribers.insert(s);
  }

  /**
   * Registers a meter (KH version default: the current one), posts its opening balance to the
   * ledger (Dr opening-balances / Cr meter:<id>) and installs it in the field.
   * @throws ServiceError 400 validation (initialBalance over the SVM maximum), 400 unknown-key-version, 404 unknown-subscriber, 409 duplicate-meter / modem-taken.
   */
  addMeter(m: {
    id: string;
    subscriberId: number;
    as: number;
    ls: number;
    modem: number;
    keyVersion?: number;
    initialBalance?: number;
  }): void {
    const id = m.id.toUpperCase();
    const ring = this.keys.ring;
    const keyVersion = m.keyVersion ?? ring.current ?? 0;
    if (!ring.has(keyVersion))
      throw new ServiceError(
        400,
        'unknown-key-version',
        `KH version ${keyVersion} is not held`,
        'keyVersion',
      );
    if (!this.subscribers.exists(m.subscriberId))
      throw new ServiceError(404, 'unknown-subscriber', `no subscriber ${m.subscriberId}`, 'subscriberId');
    if (this.meters.exists(id)) throw new ServiceError(409, 'duplicate-meter', `meter ${id} exists`, 'id');
    if (this.meters.modemTaken(m.as, m.ls, m.modem))
      throw new ServiceError(409, 'modem-taken', `AS ${m.as} LS ${m.ls} modem ${m.modem} is taken`, 'modem');
    const opening = m.initialBalance ?? 0;
    // The SVM's balance register is a u32 bounded by its maximum: an opening balance above it would
    // make a meter that refuses every credit (or, above 2^32, one that cannot be built at all).
    const max = Math.min(this.field.maxBalance ?? U32_MAX, U32_MAX);
    if (!Number.isSafeInteger(opening) || opening < 0 || opening > max)
      throw new ServiceError(
        400,
        'validation',
        `initialBalance must be 0..${max} (the SVM maximum balance)`,
        'initialBalance',
      );
    this.meters.insert({
      id,
      subscriberId: m.subscriberId,
      keyVersion,
      as: m.as,
      ls: m.ls,
      modem: m.modem,
      openingBalance: opening,
    });
    this.field.install?.(id, m.as, m.ls, m.modem, keyVersion, opening);
    this.db.event({
      kind: 'meter-registered',
      meterId: id,
      detail: `AS ${m.as} LS ${m.ls} modem ${m.modem} KH v${keyVersion}`,
    });
  }

  addCard(c: { serial: string; subscriberId: number }): void {
    this.cards.insert(c.serial.toUpperCase(), c.subscriberId);
  }

  /**
   * Registers a subscriber card, idempotently (POST /cards): the same serial for the same
   * subscriber again answers the card as registered (`created: false`).
   * @throws ServiceError 404 unknown-subscriber; 409 card-taken when the serial belongs to another
   *   subscriber.
   */
  registerCard(c: { serial: string; subscriberId: number }): { card: CardRecord; created: boolean } {
    if (!this.subscribers.exists(c.subscriberId))
      throw new ServiceError(404, 'unknown-subscriber', `no subscriber ${c.subscriberId}`, 'subscriberId');
    const r = this.cards.register(c.serial.toUpperCase(), c.subscriberId);
    if ('conflict' in r)
      throw new ServiceError(409, 'card-taken', `card ${c.serial} belongs to another subscriber`, 'serial');
    return r;
  }

  /** @throws ServiceError 404 unknown-card. */
  blacklistCard(serial: string): void {
    if (!this.cards.blacklist(serial.toUpperCase()))
      throw new ServiceError(404, 'unknown-card', `no card ${serial}`, 'serial');
    this.db.event({ kind: 'card-blacklisted', detail: serial.toUpperCase() });
  }

  /** @throws ServiceError 404 unknown-meter. */
  meter(id: string): MeterRecord {
    const r = this.meters.get(id.toUpperCase());
    if (!r) throw new ServiceError(404, 'unknown-meter', `no meter ${id}`, 'meterId');
    return r;
  }

  /** A page of meters in id order (GET /meters). */
  meterPage(limit: number, after?: string): Page<MeterRecord, string> {
    return this.meters.page(limit, after?.toUpperCase());
  }

  /** A page of subscribers in id order (GET /subscribers); top-up accounts masked. */
  subscriberPage(limit: number, after?: number): Page<SubscriberRecord, number> {
    const p = this.subscribers.page(limit, after);
    return {
      ...p,
      items: p.items.map((s) => ({ ...s, topupAccount: s.topupAccount && maskAccount(s.topupAccount) })),
    };
  }

  /** A page of cards in serial order (GET /cards). */
  cardPage(limit: number, after?: string): Page<CardRecord, string> {
    return this.cards.page(limit, after?.toUpperCase());
  }

  /** Ids of the meters of one LS, in modem order. */
  metersOfLs(as: number, ls: number): string[] {
    return this.meters.idsOfLs(as, ls);
  }
}
