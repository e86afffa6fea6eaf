/**
 * Example parties for the management centre's tests, bench and docs: a card and a terminal that
 * sign exactly what seed 004's card and terminal sign (card/pki signature inputs), without the
 * APDU layer. The centre never uses this file; it exists so test data is built by one honest
 * implementation of the signing rules instead of by hand in every test.
 */
import {
  ServiceRecord,
  UsageUpload,
  cardValueInput,
  terminalValueInput,
  type PreviousUsage,
  type Rng,
  type UsageRecord,
} from '../../card/index.js';
import { toHex, type Certificate } from '../../card/index.js';

type Signer = Parameters<typeof Certificate.sign>[1];

/** A card as far as signing goes: IDU, key, remaining value V and previous usage information. */
export class ExampleCard {
  value: number;
  previous: PreviousUsage;
  /** The card's counter of service records (cardSequence of the last one signed). */
  services = 0;

  /**
   * @param value the V of the card's first signed value (from the centre, Fig. 4C)
   * @param centreId the signer of that value, the card's first "previous" terminal id
   */
  constructor(
    readonly id: Uint8Array,
    readonly signer: Signer,
    value: number,
    centreId: Uint8Array,
  ) {
    this.value = value;
    this.previous = {
      terminalId: centreId,
      terminalNonce: new Uint8Array(0),
      cardNonce: new Uint8Array(0),
      value,
    };
  }

  /** A recharge: the card now holds the centre-signed `value` (Figs. 4C, 7). */
  recharge(value: number, centreId: Uint8Array): void {
    this.value = value;
    this.previous = {
      terminalId: centreId,
      terminalNonce: new Uint8Array(0),
      cardNonce: new Uint8Array(0),
      value,
    };
  }

  /** A copy holding the same state and key: what a cloner makes (Fig. 9's abuse). */
  clone(): ExampleCard {
    const c = new ExampleCard(this.id, this.signer, this.value, this.previous.terminalId);
    c.previous = { ...this.previous };
    c.services = this.services;
    return c;
  }
}

/** A terminal as far as signing goes: IDT, key, its records waiting for the daily upload. */
export class ExampleTerminal {
  records: UsageRecord[] = [];
  /**
   * Every card-signed service record of the services this terminal made, by session (R ‖ X, hex):
   * the centre clears a usage record only with it; {@link batch} sends those of the records
   * being uploaded (a record re-sent later finds its own again).
   */
  serviceRecords = new Map<string, ServiceRecord>();
  uploadSequence = 0;
  /** The time-stamp update counter t (Fig. 10). */
  t = 0;

  constructor(
    readonly id: Uint8Array,
    readonly signer: Signer,
    readonly rng: Rng,
  ) {}

  /**
   * One service (Figs. 6, 9): R from the terminal, X from the card, SU(R‖X‖V) by the card,
   * S = ST(R‖X‖V'‖IDU) by the terminal; the card stores V' and the new previous usage and
   * signs its service record SU(M‖IDU) of the session (kept in `serviceRecords`).
   * @returns the usage record the terminal keeps.
   */
  serve(card: ExampleCard, charge: number, dateTime: number): UsageRecord {
    if (charge > card.value) throw new RangeError(`charge ${charge} is above V ${card.value}`);
    const terminalNonce = this.rng.bytes(16);
    const cardNonce = this.rng.bytes(16);
    const binding = { cardId: card.id, terminalId: this.id, terminalNonce, cardNonce };
    const cardSignature = card.signer.sign(cardValueInput({ ...binding, value: card.value }));
    const after = card.value - charge;
    const terminalSignature = this.signer.sign(terminalValueInput({ ...binding, value: after, dateTime }));
    const record: UsageRecord = {
      cardId: card.id,
      valueBefore: card.value,
      valueAfter: after,
      charge,
      terminalNonce,
      cardNonce,
      cardSignature,
      terminalSignature,
      dateTime,
      previous: card.previous,
    };
    card.value = after;
    card.previous = { terminalId: this.id, terminalNonce, cardNonce, value: after };
    card.services++;
    this.serviceRecords.set(
      sessionKey(terminalNonce, cardNonce),
      ServiceRecord.sign(
        {
          cardId: card.id,
          terminalId: this.id,
          cardSequence: card.services,
          terminalNonce,
          cardNonce,
          service: '',
          charge,
          valueAfter: after,
          dateTime,
        },
        card.signer,
      ),
    );
    this.records.push(record);
    return record;
  }

  /**
   * The next upload with the card-signed service records of its records (same R and X), as a
   * terminal sends it (ManagementCentre.ingestUpload takes it as it is).
   */
  batch(
    centreId: Uint8Array,
    periodStart: number,
    periodEnd: number,
  ): { upload: UsageUpload; serviceRecords: ServiceRecord[] } {
    const serviceRecords: ServiceRecord[] = [];
    for (const r of this.records) {
      const s = this.serviceRecords.get(sessionKey(r.terminalNonce, r.cardNonce));
      if (s) serviceRecords.push(s);
    }
    return { upload: this.upload(centreId, periodStart, periodEnd), serviceRecords };
  }

  /** Signs the records kept so far into the next upload and forgets them. */
  upload(centreId: Uint8Array, periodStart: number, periodEnd: number): UsageUpload {
    const up = UsageUpload.sign(
      {
        centreId,
        terminalId: this.id,
        uploadSequence: ++this.uploadSequence,
        updateCounter: this.t,
        periodStart,
        periodEnd,
        records: this.records,
      },
      this.signer,
    );
    this.records = [];
    return up;
  }
}

function sessionKey(r: Uint8Array, x: Uint8Array): string {
  return toHex(r) + toHex(x);
}
