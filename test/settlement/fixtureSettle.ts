/**
 * A small seed-004 world for the settlement card and terminal tests: a management centre (its key
 * pair, self-signed anchor, certificates, signed values, lists), settlement cards made through the
 * 'settlement' profile (keys drawn from a SeededRng), and terminals with a ManualClock.
 * Key pairs of the centre and terminals come from node:crypto (the expensive RSA ones are made once
 * per file by the caller and passed in).
 */
import { NodeSignatureProvider } from '../../card/crypto/NodeSignatureProvider.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { ManualClock } from '../../card/crypto/clock.js';
import { SeededRng } from '../../card/crypto/rng.js';
import type { KeyPairDer, SignatureAlgorithm, Signer } from '../../card/crypto/signature.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import {
  Certificate,
  InvalidCardList,
  PasswordSetting,
  SignedValue,
  TroubledTerminalList,
  type InvalidCardEntry,
  type SubjectKind,
  type TroubledTerminalEntry,
  stateReference,
} from '../../card/pki/index.js';
import { makeSettlementCard, type SettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY, SETTLE_OBJ_STATUS } from '../../card/applets/settle/constants.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import * as A from '../../terminal/settlement/apdus.js';
import { SettlementTerminal } from '../../terminal/settlement/SettlementTerminal.js';
import {
  certifySettlementCard,
  rechargeSettlementCard,
} from '../../terminal/settlement/SettlementTerminal.js';

export const provider = new NodeSignatureProvider();
export const cipher = new NodeCipherProvider();
/** 2026-01-01T00:00:00Z: the world's start (whole seconds, as the pki wants). */
export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;
export const YEAR = 365 * DAY;
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export class Centre {
  readonly signer: Signer;
  readonly anchor: Certificate;
  #serial = 1;

  constructor(
    readonly id: Uint8Array,
    readonly alg: SignatureAlgorithm,
    readonly keys: KeyPairDer = provider.generateKeyPair(alg),
  ) {
    this.signer = provider.signer(alg, keys.privateKey);
    this.anchor = Certificate.sign(
      {
        centreId: id,
        serial: 0,
        subjectKind: 'centre',
        subjectId: id,
        subjectPublicKey: keys.publicKey,
        subjectKeyAlgorithm: alg,
        notBefore: T0 - YEAR,
        notAfter: T0 + 10 * YEAR,
      },
      this.signer,
    );
  }

  certify(
    kind: SubjectKind,
    subjectId: Uint8Array,
    spki: Uint8Array,
    alg: SignatureAlgorithm,
    notBefore = T0 - DAY,
    notAfter = T0 + 2 * YEAR,
  ): Certificate {
    return Certificate.sign(
      {
        centreId: this.id,
        serial: this.#serial++,
        subjectKind: kind,
        subjectId,
        subjectPublicKey: spki,
        subjectKeyAlgorithm: alg,
        notBefore,
        notAfter,
      },
      this.signer,
    );
  }

  /** SA(V‖IDU); `challenge` the card-state reference of a recharge (empty: a card's first value). */
  value(
    cardId: Uint8Array,
    value: number,
    sequence: number,
    notAfter = T0 + YEAR,
    challenge: Uint8Array = new Uint8Array(0),
  ): SignedValue {
    return SignedValue.sign(
      {
        centreId: this.id,
        signerKind: 'centre',
        signerId: this.id,
        cardId,
        value,
        sequence,
        challenge,
        notAfter,
      },
      this.signer,
    );
  }

  setting(cardId: Uint8Array, settingNumber: string, notAfter = T0 + YEAR): PasswordSetting {
    return PasswordSetting.sign(
      { centreId: this.id, cardId, settingNumber: ascii(settingNumber), notAfter },
      this.signer,
    );
  }

  invalidCards(listVersion: number, entries: InvalidCardEntry[]): InvalidCardList {
    return InvalidCardList.sign(
      { centreId: this.id, listVersion, issued: T0 - DAY, notAfter: T0 + YEAR, entries },
      this.signer,
    );
  }

  troubledTerminals(listVersion: number, entries: TroubledTerminalEntry[]): TroubledTerminalList {
    return TroubledTerminalList.sign(
      { centreId: this.id, listVersion, issued: T0 - DAY, notAfter: T0 + YEAR, entries },
      this.signer,
    );
  }
}

export interface TerminalKit {
  readonly terminal: SettlementTerminal;
  readonly idt: Uint8Array;
  readonly keys: KeyPairDer;
  readonly certificate: Certificate;
  readonly chainKey: Uint8Array;
  readonly ts0: Uint8Array;
}

/** A terminal certified by `centre` (or by `certifier`, to forge one), with its chain K and TS0. */
export function makeTerminal(
  centre: Centre,
  idt: string,
  clock: ManualClock,
  alg: SignatureAlgorithm,
  keys: KeyPairDer = provider.generateKeyPair(alg),
  certificate?: Certificate,
): TerminalKit {
  const id = ascii(idt);
  const rng = new SeededRng(`terminal:${idt}`);
  const chainKey = rng.bytes(16);
  const ts0 = rng.bytes(16);
  const cert = certificate ?? centre.certify('terminal', id, keys.publicKey, alg);
  const terminal = new SettlementTerminal({
    idt: id,
    signer: provider.signer(alg, keys.privateKey),
    certificate: cert.encode(),
    anchor: centre.anchor.encode(),
    provider,
    chainKey,
    ts0,
    cipher,
    clock,
    rng,
  });
  return { terminal, idt: id, keys, certificate: cert, chainKey, ts0 };
}

export interface IssuedCard {
  readonly card: SettlementCard;
  readonly idu: Uint8Array;
  readonly reader: VirtualReader;
  readonly certificate: Certificate;
  channel(): Promise<CardChannel>;
}

/**
 * A settlement card personalised (key pair from SeededRng(`card:${idu}`)), certified by the centre
 * and issued `value` (sequence 1) — Figs. 4B, 4C.
 */
export async function issueCard(
  centre: Centre,
  idu: string,
  alg: SignatureAlgorithm,
  value: number,
): Promise<IssuedCard> {
  const id = ascii(idu);
  const card = makeSettlementCard({
    idu: id,
    anchor: centre.anchor.encode(),
    algorithm: alg,
    rng: new SeededRng(`card:${idu}`),
  });
  const reader = new VirtualReader(`slot ${idu}`, card.os);
  const ch = await reader.connect();
  await ch.transmit(A.selectSettle());
  const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
  const certificate = centre.certify('card', id, spki, alg);
  await certifySettlementCard(ch, certificate);
  if (value > 0) await rechargeSettlementCard(ch, centre.value(id, value, 1));
  await ch.disconnect();
  card.os.powerUp(); // for tests that drive the OS directly; a reader connect resets it
  return { card, idu: id, reader, certificate, channel: () => reader.connect() };
}

/** The card's present state reference (what a dispenser reads before a recharge), straight from the OS. */
export function stateRefOf(card: SettlementCard): Uint8Array {
  tx(card, A.selectSettle());
  const st = tx(card, A.readObject(SETTLE_OBJ_STATUS)).data;
  const dv = new DataView(st.buffer, st.byteOffset);
  return stateReference({ value: dv.getUint32(0), sequence: dv.getUint32(4), services: dv.getUint32(16) });
}

/** A recharge to `value` bound to the card's present state (sequence: the next the centre gives). */
export function rechargeCommand(
  centre: Centre,
  c: { card: SettlementCard; idu: Uint8Array },
  value: number,
  sequence: number,
  notAfter = T0 + YEAR,
): CommandApdu {
  return A.recharge(centre.value(c.idu, value, sequence, notAfter, stateRefOf(c.card)).encode());
}

export function newClock(): ManualClock {
  return new ManualClock(T0);
}

/** Sends a command straight to a card OS (T=1: data comes back whole). */
export function tx(card: SettlementCard, c: CommandApdu): ResponseApdu {
  return ResponseApdu.decode(card.os.transmit(c.encode()));
}

export const hexSw = (sw: number): string => sw.toString(16).toUpperCase().padStart(4, '0');

export { A, CommandApdu };
