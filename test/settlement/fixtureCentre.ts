/**
 * Shared set-up of the end-to-end settlement tests (card → terminal → upload → management
 * centre): a centre in memory with one card it certified and loaded (Figs. 4B/4C), and terminals
 * it certified with their time-stamp chains (Fig. 4A).
 */
import { afterEach, beforeAll } from 'vitest';
import {
  ManualClock,
  NodeCipherProvider,
  NodeSignatureProvider,
  SeededRng,
} from '../../card/crypto/index.js';
import type { KeyPairDer } from '../../card/crypto/index.js';
import { fromHex } from '../../card/util/hex.js';
import type { ServiceRecord, ServiceRecordFields } from '../../card/pki/index.js';
import { ExampleCard, ExampleTerminal } from '../../host/settlement/examples.js';
import { makeSettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY } from '../../card/applets/settle/constants.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import * as A from '../../terminal/settlement/apdus.js';
import {
  SettlementTerminal,
  certifySettlementCard,
  rechargeSettlementCard,
} from '../../terminal/settlement/SettlementTerminal.js';
import { ManagementCentre, type ManagementCentreOptions } from '../../host/settlement/ManagementCentre.js';

export const provider = new NodeSignatureProvider();
export const ALG = 'ecdsa-p256-sha256' as const;
export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface Validity {
  notBefore: number;
  notAfter: number;
}

/**
 * A centre (`${tag}:centre` randomness, maxValue 50 000) and a card `idu` (`${tag}:card`)
 * certified by it for a year from T0 and loaded with 1000, valid until T0 + 100 days.
 */
export async function centreWithCard(o: {
  tag: string;
  clock: ManualClock;
  centreId: Uint8Array;
  idu: Uint8Array;
}) {
  const centre = new ManagementCentre({
    file: ':memory:',
    provider,
    clock: o.clock,
    rng: new SeededRng(`${o.tag}:centre`),
    maxValue: 50_000,
    centreId: o.centreId,
    algorithm: ALG,
  });
  const validity: Validity = { notBefore: T0, notAfter: T0 + 365 * DAY };
  const card = makeSettlementCard({
    idu: o.idu,
    anchor: centre.anchor.encode(),
    algorithm: ALG,
    rng: new SeededRng(`${o.tag}:card`),
  });
  const ch = await new VirtualReader('slot', card.os).connect();
  await ch.transmit(A.selectSettle());
  const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
  await certifySettlementCard(ch, centre.certifyCard(o.idu, spki, validity, ALG));
  await rechargeSettlementCard(ch, centre.signValue(o.idu, 1000, T0 + 100 * DAY));
  await ch.disconnect();
  return { centre, validity, card };
}

/** A terminal `idt` with a fresh key pair and the chain `{ key, ts0 }`, certified by `centre`. */
export function centreTerminal(
  centre: ManagementCentre,
  validity: Validity,
  o: { idt: Uint8Array; chain: { key: Uint8Array; ts0: Uint8Array }; clock: ManualClock; rngSeed: string },
) {
  const keys = provider.generateKeyPair(ALG);
  const cert = centre.certifyTerminal(o.idt, keys.publicKey, o.chain, validity, ALG);
  const signer = provider.signer(ALG, keys.privateKey);
  const terminal = new SettlementTerminal({
    idt: o.idt,
    signer,
    certificate: cert.encode(),
    anchor: centre.anchor.encode(),
    provider,
    chainKey: o.chain.key,
    ts0: o.chain.ts0,
    cipher: new NodeCipherProvider(),
    clock: o.clock,
    rng: new SeededRng(o.rngSeed),
  });
  return { terminal, signer, cert };
}

/**
 * The red-team centre set-up with example cards and terminals (host/settlement/examples.ts):
 * registers vitest hooks that make the key pairs once (a centre's, two cards', two terminals')
 * and close every centre `world()` opened after each test. Card i is `${iduHex}i`, terminal i
 * `${idtHex}i`; randomness `centre-${tag}` and `world-${tag}`.
 */
export function exampleCentreKit(o: { tag: string; centreId: Uint8Array; iduHex: string; idtHex: string }) {
  let centreKeys: KeyPairDer;
  const cardKeys: KeyPairDer[] = [];
  const terminalKeys: KeyPairDer[] = [];
  beforeAll(() => {
    centreKeys = provider.generateKeyPair(ALG);
    for (let i = 0; i < 2; i++) cardKeys.push(provider.generateKeyPair(ALG));
    for (let i = 0; i < 2; i++) terminalKeys.push(provider.generateKeyPair(ALG));
  });
  const open: ManagementCentre[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  const VALIDITY = { notBefore: T0, notAfter: T0 + 365 * DAY };
  const CENTRE = o.centreId;
  const idu = (i: number) => fromHex(`${o.iduHex}${i}`);
  const idt = (i: number) => fromHex(`${o.idtHex}${i}`);

  function world(over: Partial<ManagementCentreOptions> = {}) {
    const clock = new ManualClock(T0 + DAY);
    const centre = new ManagementCentre({
      file: ':memory:',
      provider,
      clock,
      rng: new SeededRng(`centre-${o.tag}`),
      maxValue: 100_000,
      centreId: CENTRE,
      keyPair: centreKeys,
      ...over,
    });
    open.push(centre);
    const rng = new SeededRng(`world-${o.tag}`);
    const cards = [1, 2].map((i) => {
      centre.certifyCard(idu(i), cardKeys[i - 1]!.publicKey, VALIDITY, ALG);
      centre.signValue(idu(i), 1000, T0 + 100 * DAY);
      return new ExampleCard(idu(i), provider.signer(ALG, cardKeys[i - 1]!.privateKey), 1000, CENTRE);
    });
    const terminals = [1, 2].map((i) => {
      const chain = { key: new Uint8Array(16).fill(0x40 + i), ts0: new Uint8Array(16).fill(0x10 + i) };
      centre.certifyTerminal(idt(i), terminalKeys[i - 1]!.publicKey, chain, VALIDITY, ALG);
      return new ExampleTerminal(idt(i), provider.signer(ALG, terminalKeys[i - 1]!.privateKey), rng);
    });
    let at = clock.now();
    const next = () => (at += 1000);
    const upload = (t: ExampleTerminal) => t.batch(CENTRE, T0, T0 + 10 * DAY);
    return { centre, clock, cards, terminals, next, upload };
  }
  return { cardKeys, terminalKeys, idu, idt, world, VALIDITY };
}

/** The signed fields of `rec` (without its signature), to re-sign or re-assemble it. */
export function serviceRecordFields(rec: ServiceRecord): ServiceRecordFields {
  return {
    cardId: rec.cardId,
    terminalId: rec.terminalId,
    cardSequence: rec.cardSequence,
    terminalNonce: rec.terminalNonce,
    cardNonce: rec.cardNonce,
    service: rec.service,
    charge: rec.charge,
    valueAfter: rec.valueAfter,
    dateTime: rec.dateTime,
  };
}
