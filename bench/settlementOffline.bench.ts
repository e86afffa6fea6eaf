// Offline settlements per second of seed 004 (issue 13, "Measured"): one settlement card served
// again and again by one SettlementTerminal through the in-process reader (VirtualReader), with
// RSA-2048 (PKCS#1 v1.5) and with ECDSA P-256 keys everywhere (centre, card, terminal).
//
// One settlement is everything `SettlementTerminal.serve` does with the card, as at a real
// terminal: connect (the card is reset), SELECT, READ OBJECT 01 and the card certificate checked;
// PRESENT TERMINAL (the card checks the terminal certificate) and the card's evidence checked
// (the signed value's or the last usage's signatures and the last terminal's certificate);
// SIGN VALUE (the card signs SU(R‖X‖V), the terminal verifies it); the terminal signs
// S = ST(R‖X‖V'‖IDU) and ST(TS_t‖S); UPDATE VALUE (the card decodes the usage info, verifies S,
// commits V' in one transaction and signs its service record SU(M‖IDU)); the terminal verifies
// the service record. That is 4 signatures and 8 verifications per settlement.
//
// Outside the timed part: key generation (the card's RSA key comes from node-forge's prime search,
// a few seconds), certification and the first signed value. Each algorithm runs a warm-up of
// 10 settlements, then N (SETTLEMENT_OFFLINE_N, default 300 for RSA, 1,000 for ECDSA) timed ones;
// the figure is N over their total time; the rate at the median settlement, and the median and
// 99th percentile of one settlement, show how much of it is noise from a shared machine.
import type { Figure } from './run.js';
import { ManualClock } from '../card/crypto/index.js';
import {
  Certificate,
  NodeCipherProvider,
  NodeSignatureProvider,
  SETTLE_OBJ_PUBLIC_KEY,
  SeededRng,
  SignedValue,
  makeSettlementCard,
  type SignatureAlgorithm,
} from '../card/index.js';
import { VirtualReader } from '../reader/index.js';
import {
  SettlementTerminal,
  certifySettlementCard,
  rechargeSettlementCard,
  settleApdus as A,
} from '../terminal/index.js';
import { percentiles } from './measure.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

async function run(alg: SignatureAlgorithm, n: number): Promise<Figure[]> {
  const provider = new NodeSignatureProvider();
  const t0 = Date.UTC(2026, 0, 1);
  const year = 365 * 86_400_000;
  const clock = new ManualClock(t0);
  const centreId = ascii('BENCH-CENTRE');
  const centreKeys = provider.generateKeyPair(alg);
  const centre = provider.signer(alg, centreKeys.privateKey);
  let serial = 0;
  const certificate = (kind: 'centre' | 'card' | 'terminal', id: Uint8Array, spki: Uint8Array): Certificate =>
    Certificate.sign(
      {
        centreId,
        serial: serial++,
        subjectKind: kind,
        subjectId: id,
        subjectPublicKey: spki,
        subjectKeyAlgorithm: alg,
        notBefore: t0 - year,
        notAfter: t0 + 10 * year,
      },
      centre,
    );
  const anchor = certificate('centre', centreId, centreKeys.publicKey).encode();

  const idu = ascii('BENCH-CARD');
  const card = makeSettlementCard({ idu, anchor, algorithm: alg, rng: new SeededRng(`bench:${alg}:card`) });
  const reader = new VirtualReader('bench', card.os);
  const ch0 = await reader.connect();
  await ch0.transmit(A.selectSettle());
  const spki = (await ch0.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
  await certifySettlementCard(ch0, certificate('card', idu, spki));
  await rechargeSettlementCard(
    ch0,
    SignedValue.sign(
      {
        centreId,
        signerKind: 'centre',
        signerId: centreId,
        cardId: idu,
        value: 1_000_000_000,
        sequence: 1,
        challenge: new Uint8Array(0),
        notAfter: t0 + year,
      },
      centre,
    ),
  );
  await ch0.disconnect();

  const idt = ascii('BENCH-TERM');
  const termKeys = provider.generateKeyPair(alg);
  const rng = new SeededRng(`bench:${alg}:terminal`);
  const terminal = new SettlementTerminal({
    idt,
    signer: provider.signer(alg, termKeys.privateKey),
    certificate: certificate('terminal', idt, termKeys.publicKey).encode(),
    anchor,
    provider,
    chainKey: rng.bytes(16),
    ts0: rng.bytes(16),
    cipher: new NodeCipherProvider(),
    clock,
    rng,
  });

  const settle = async (): Promise<void> => {
    clock.advance(1000);
    const ch = await reader.connect();
    await terminal.serve(ch, 1);
    await ch.disconnect();
  };
  for (let i = 0; i < 10; i++) await settle();
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    await settle();
    samples.push(performance.now() - a);
  }
  const total = performance.now() - start;
  const served = terminal.upload().upload.records.length;
  if (served !== n + 10) throw new Error(`expected ${n + 10} usage records, got ${served}`);
  const { median, p99 } = percentiles(samples);
  const label = alg === 'ecdsa-p256-sha256' ? 'ECDSA P-256' : 'RSA-2048';
  return [
    {
      name: `offline settlements, ${label} (${n} services)`,
      value: (n * 1000) / total,
      unit: 'settlements/s',
    },
    { name: `  the same at the median settlement, ${label}`, value: 1000 / median, unit: 'settlements/s' },
    { name: `  one settlement, ${label}, median`, value: median, unit: 'ms' },
    { name: `  one settlement, ${label}, p99`, value: p99, unit: 'ms' },
  ];
}

export default async function bench(): Promise<Figure[]> {
  const env = process.env.SETTLEMENT_OFFLINE_N;
  const n = (dflt: number): number => {
    const v = Number(env ?? dflt);
    if (!Number.isSafeInteger(v) || v < 1)
      throw new RangeError('SETTLEMENT_OFFLINE_N must be a positive integer');
    return v;
  };
  return [...(await run('rsa-pkcs1v15-sha256', n(300))), ...(await run('ecdsa-p256-sha256', n(1000)))];
}
