/**
 * The worked examples of docs/settlement.md (seed 004, EP0856821): one seeded world — a
 * management centre, two terminals and two settlement cards, every key drawn from
 * SeededRng(`settlement-spec:…`) and every ECDSA P-256 signature made with the deterministic
 * nonce of RFC 6979 §3.2 — run through the real card, terminal and centre code, every APDU
 * recorded in order. Run `npx tsx test/settlement/settleExamples.ts --write` to regenerate the
 * document's ```apdu and ```values blocks; test/settlement/settleSpec.test.ts regenerates them
 * and fails on any difference, so the document cannot drift from the implementation.
 *
 * Why RFC 6979: node:crypto draws ECDSA's per-signature nonce k from OpenSSL's own randomness,
 * so two runs would sign the same bytes differently. {@link DeterministicEcdsaProvider} keeps
 * node:crypto for everything else (verification, RSA, key decoding) and signs P-256 with
 * k = HMAC_DRBG(d, SHA-256(m)) — still standard ECDSA, which every verifier accepts. It is checked
 * against RFC 6979's own vector (A.2.5, "sample") in settleSpec.test.ts.
 */
import { createECDH, createHash, createHmac, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  NodeCipherProvider,
  NodeSignatureProvider,
  SeededRng,
  SETTLE_OBJ_PUBLIC_KEY,
  cardValueInput,
  generateCardKeyPair,
  makeSettlementCard,
  nextTimeStamp,
  rebuildSettlementCard,
  signWith,
  terminalValueInput,
  timeStampInput,
  toHex,
  u32,
  UsageInfo,
  type CommandApdu,
  type KeyPairDer,
  type ResponseApdu,
  type SettlementCard,
  type SignatureAlgorithm,
  type SignatureProvider,
  type Signer,
  type SignerOptions,
  type Verifier,
} from '../../card/index.js';
import { ManualClock } from '../../card/crypto/index.js';
import { keyToDer, type KeyInput } from '../../card/crypto/signature.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  SettlementError,
  SettlementTerminal,
  certifySettlementCard,
  installPasswordSetting,
  readSettlementCardState,
  rechargeSettlementCard,
  rechargedValue,
  settleApdus as A,
} from '../../terminal/index.js';
import { CentreError, ManagementCentre } from '../../host/index.js';
import { interceptChannel } from '../reader/interceptChannel.js';

export const SETTLE_SEED = 'settlement-spec';
const ALG: SignatureAlgorithm = 'ecdsa-p256-sha256';
/** 2026-03-02T08:00:00Z, the example's first moment (whole seconds, as the pki wants). */
export const EXAMPLE_T0 = Date.UTC(2026, 2, 2, 8, 0, 0);
const DAY = 86_400_000;
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// ---------------------------------------------------------------------------------------------
// RFC 6979 deterministic ECDSA P-256 / SHA-256

/** Order n of the P-256 base point (FIPS 186-4 D.1.2.3). */
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const bigOf = (b: Uint8Array): bigint => BigInt(`0x${toHex(b) || '0'}`);
const octets32 = (x: bigint): Uint8Array =>
  Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));

function invMod(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [((a % m) + m) % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const m = createHmac('sha256', key);
  for (const p of parts) m.update(p);
  return Uint8Array.from(m.digest());
}

/**
 * ECDSA P-256 over SHA-256(msg) with RFC 6979 §3.2's k; raw r‖s (64 bytes). The point k·G comes
 * from node:crypto's ECDH (the public key of the private scalar k).
 */
export function signRfc6979(d: bigint, msg: Uint8Array): Uint8Array {
  if (d < 1n || d >= N) throw new RangeError('d must be in 1..n-1');
  const e = bigOf(createHash('sha256').update(msg).digest());
  const x = octets32(d);
  const h = octets32(e % N);
  let v: Uint8Array = new Uint8Array(32).fill(1);
  let k: Uint8Array = new Uint8Array(32);
  k = hmac(k, v, Uint8Array.of(0), x, h);
  v = hmac(k, v);
  k = hmac(k, v, Uint8Array.of(1), x, h);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const kk = bigOf(v);
    if (kk >= 1n && kk < N) {
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(Buffer.from(octets32(kk)));
      const r = bigOf(ecdh.getPublicKey().subarray(1, 33)) % N;
      const s = (invMod(kk, N) * (e + r * d)) % N;
      if (r !== 0n && s !== 0n) return Uint8Array.from([...octets32(r), ...octets32(s)]);
    }
    k = hmac(k, v, Uint8Array.of(0));
    v = hmac(k, v);
  }
}

/** node:crypto for everything, but ECDSA P-256 signing with RFC 6979's deterministic nonce. */
export class DeterministicEcdsaProvider implements SignatureProvider {
  readonly name = 'node+rfc6979';
  readonly #inner = new NodeSignatureProvider();
  readonly #rng: SeededRng;
  constructor(seed: string) {
    this.#rng = new SeededRng(seed);
  }
  supports(alg: SignatureAlgorithm): boolean {
    return this.#inner.supports(alg);
  }
  /** From the seeded Rng (card/applets/settle's generator), so the example's keys are fixed too. */
  generateKeyPair(alg: SignatureAlgorithm): KeyPairDer {
    return generateCardKeyPair(alg, this.#rng);
  }
  signer(alg: SignatureAlgorithm, privateKey: KeyInput, options?: SignerOptions): Signer {
    if (alg !== 'ecdsa-p256-sha256' || options?.ecdsaFormat === 'der')
      return this.#inner.signer(alg, privateKey, options);
    this.#inner.signer(alg, privateKey); // the same key checks as node's
    const der = keyToDer(privateKey, 'private');
    const jwk = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({
      format: 'jwk',
    });
    der.fill(0);
    const d = bigOf(Uint8Array.from(Buffer.from(jwk.d!, 'base64url')));
    return { algorithm: alg, sign: (data) => signRfc6979(d, data) };
  }
  verifier(alg: SignatureAlgorithm, publicKey: KeyInput, options?: SignerOptions): Verifier {
    return this.#inner.verifier(alg, publicKey, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Hex in groups of two, 32 bytes a line; continuation lines indented under the first byte. */
function wrapped(prefix: string, b: Uint8Array): string[] {
  const hex = toHex(b).match(/../g) ?? [];
  if (hex.length === 0) return [prefix.trimEnd()];
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += 32)
    out.push(`${i === 0 ? prefix : ' '.repeat(prefix.length)}${hex.slice(i, i + 32).join(' ')}`);
  return out;
}

const apduLines = (who: string, c: CommandApdu, r: ResponseApdu): string[] => [
  ...wrapped(`${who}> `, c.encode()),
  ...wrapped(`${who}< `, r.encode()),
];

const outcome = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'accepted',
    (e: unknown) =>
      e instanceof SettlementError || e instanceof CentreError
        ? `${e.name} '${e.reason}'`
        : `threw ${String(e)}`,
  );

// ---------------------------------------------------------------------------------------------
// The example world

interface TerminalKit {
  readonly terminal: SettlementTerminal;
  readonly idt: Uint8Array;
  readonly certificate: Uint8Array;
  readonly chainKey: Uint8Array;
  readonly ts0: Uint8Array;
  readonly signer: Signer;
}

/** Generates every example block of the document: name → lines. */
export async function generate(): Promise<Map<string, string[]>> {
  const provider = new DeterministicEcdsaProvider(`${SETTLE_SEED}:keys`);
  const cipher = new NodeCipherProvider();
  const clock = new ManualClock(EXAMPLE_T0);
  const blocks = new Map<string, string[]>();
  const centre = new ManagementCentre({
    file: ':memory:',
    provider,
    clock,
    rng: new SeededRng(`${SETTLE_SEED}:centre`),
    maxValue: 100_000,
    centreId: ascii('MC-EXAMPLE'),
    algorithm: ALG,
    keyPair: provider.generateKeyPair(ALG),
  });
  try {
    const validity = { notBefore: EXAMPLE_T0, notAfter: EXAMPLE_T0 + 730 * DAY };
    const log: string[] = [];
    const recorded = (inner: CardChannel, who: string): CardChannel =>
      interceptChannel(inner, async (c, next) => {
        const r = await next(c);
        log.push(...apduLines(who, c, r));
        return r;
      });

    const makeTerminal = (name: string): TerminalKit => {
      const idt = ascii(name);
      const rng = new SeededRng(`${SETTLE_SEED}:${name}`);
      const chainKey = rng.bytes(16);
      const ts0 = rng.bytes(16);
      const keys = provider.generateKeyPair(ALG);
      const certificate = centre.certifyTerminal(idt, keys.publicKey, { key: chainKey, ts0 }, validity, ALG);
      const signer = provider.signer(ALG, keys.privateKey);
      const terminal = new SettlementTerminal({
        idt,
        signer,
        certificate: certificate.encode(),
        anchor: centre.anchor.encode(),
        provider,
        chainKey,
        ts0,
        cipher,
        clock,
        rng,
      });
      return { terminal, idt, certificate: certificate.encode(), chainKey, ts0, signer };
    };
    const termA = makeTerminal('TERM-A');
    const termB = makeTerminal('TERM-B');

    const newCard = (name: string): { card: SettlementCard; idu: Uint8Array; reader: VirtualReader } => {
      const idu = ascii(name);
      const card = makeSettlementCard({
        idu,
        anchor: centre.anchor.encode(),
        algorithm: ALG,
        rng: new SeededRng(`${SETTLE_SEED}:${name}`),
        provider,
      });
      return { card, idu, reader: new VirtualReader(name, card.os) };
    };
    const connect = async (r: VirtualReader): Promise<CardChannel> => recorded(await r.connect(), 'card');

    blocks.set('parties', [
      `centre     IDA = ${text(centre.centreId)}   anchor (self-signed Certificate, ${centre.anchor.encode().length} bytes):`,
      ...wrapped('           ', centre.anchor.encode()),
      `terminal   IDT = ${text(termA.idt)}   K = ${toHex(termA.chainKey)}   TS0 = ${toHex(termA.ts0)}`,
      `terminal   IDT = ${text(termB.idt)}   K = ${toHex(termB.chainKey)}   TS0 = ${toHex(termB.ts0)}`,
      `           SA(nT‖IDT) of ${text(termA.idt)} (${termA.certificate.length} bytes):`,
      ...wrapped('           ', termA.certificate),
    ]);

    // Figs. 4B / 4C: the card makes its key, the centre certifies it, a first value is written.
    const one = newCard('CARD-0001');
    let ch = await connect(one.reader);
    await ch.transmit(A.selectSettle());
    const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certifyCard(one.idu, spki, validity, ALG));
    await rechargeSettlementCard(ch, centre.signValue(one.idu, 5000, EXAMPLE_T0 + 365 * DAY));
    await ch.disconnect();
    blocks.set('issue', log.splice(0));

    // Figs. 5–7 and 12: one service at TERM-A, 120 units.
    clock.advance(3600_000);
    ch = await connect(one.reader);
    const s1 = await termA.terminal.serve(ch, 120);
    await ch.disconnect();
    blocks.set('service', log.splice(0));
    const u = s1.usageInfo;
    const binding = {
      cardId: one.idu,
      terminalId: termA.idt,
      terminalNonce: u.terminalNonce,
      cardNonce: u.cardNonce,
    };
    blocks.set('service-values', [
      `R  = ${toHex(u.terminalNonce)}   (TERM-A's Rng)`,
      `X  = ${toHex(u.cardNonce)}   (the card's Rng)`,
      `V  = ${s1.valueBefore}   V' = ${s1.valueAfter}   charge = ${s1.charge}   date-time = ${new Date(u.dateTime).toISOString()}`,
      `SU(R‖X‖V) signs CardValueInput:`,
      ...wrapped('   ', cardValueInput({ ...binding, value: s1.valueBefore })),
      `S = ST(R‖X‖V'‖IDU) signs TerminalValueInput:`,
      ...wrapped('   ', terminalValueInput({ ...binding, value: s1.valueAfter, dateTime: u.dateTime })),
      `ST(TS_t‖S) signs TimeStampInput (t = ${u.updateCounter}, TS_0):`,
      ...wrapped(
        '   ',
        timeStampInput({
          terminalId: termA.idt,
          updateCounter: u.updateCounter,
          timeStamp: termA.ts0,
          valueSignature: u.valueSignature,
        }),
      ),
      `service record SU(M‖IDU): card sequence ${s1.serviceRecord.cardSequence}, charge ${s1.serviceRecord.charge}`,
    ]);

    // Replays against the card: the update kept from the service, in a later session.
    ch = await connect(one.reader);
    await ch.transmit(A.selectSettle());
    await ch.transmit(A.updateValue(u.encode()));
    await ch.transmit(A.presentTerminal(clock.now(), termA.certificate));
    await ch.transmit(A.signValue(new Uint8Array(16).fill(0x52)));
    await ch.transmit(A.updateValue(u.encode()));
    await ch.transmit(A.updateValue(u.encode()));
    await ch.disconnect();
    blocks.set('replay', log.splice(0));

    // Figs. 13 and 15: the centre's setting number, installed; the password registered at TERM-B.
    clock.advance(600_000);
    const { setting } = centre.passwordSetting(one.idu);
    ch = await connect(one.reader);
    await installPasswordSetting(ch, setting);
    await termB.terminal.registerPassword(ch, text(setting.settingNumber), '2468');
    await ch.disconnect();
    blocks.set('password', log.splice(0));

    // Figs. 14 and 16: a service at TERM-B with the password; the card shows TERM-A's usage.
    clock.advance(600_000);
    ch = await connect(one.reader);
    const wrong = await outcome(termB.terminal.serve(ch, 80, { password: '1357' }));
    await ch.disconnect();
    const verify = log.splice(0);
    const at = verify.findIndex((l) => l.startsWith('card> 00 20 00 81'));
    blocks.set('wrong-password', [...verify.slice(at, at + 2), `→ ${wrong}`]);
    ch = await connect(one.reader);
    const s2 = await termB.terminal.serve(ch, 80, { password: '2468' });
    await ch.disconnect();
    blocks.set('service-password', log.splice(0));

    // Figs. 10–12: stolen terminals. TERM-A moves to t = 1 and calls in; it serves card 1; it is
    // reported stolen at t = 1; the thief moves it on to t = 2 and serves card 2.
    const two = newCard('CARD-0002');
    ch = await connect(two.reader);
    await ch.transmit(A.selectSettle());
    const spki2 = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certifyCard(two.idu, spki2, validity, ALG));
    await rechargeSettlementCard(ch, centre.signValue(two.idu, 900, EXAMPLE_T0 + 365 * DAY));
    await ch.disconnect();
    log.splice(0);
    const ts: string[] = [];
    let tsv = termA.ts0;
    for (let t = 1; t <= 3; t++) {
      tsv = nextTimeStamp(cipher, termA.chainKey, tsv);
      ts.push(`TS_${t} = E_K(TS_${t - 1}) ⊕ TS_${t - 1} = ${toHex(tsv)}`);
    }
    clock.advance(DAY / 2);
    termA.terminal.updateTimeStamp();
    centre.terminalCalled(termA.idt, termA.terminal.updateCounter);
    ch = await connect(one.reader);
    const s3 = await termA.terminal.serve(ch, 30, { password: '2468' });
    await ch.disconnect();
    const batchA = termA.terminal.upload();
    const reportedT = centre.reportStolen(termA.idt);
    termA.terminal.updateTimeStamp();
    clock.advance(600_000);
    ch = await connect(two.reader);
    await termA.terminal.serve(ch, 100);
    await ch.disconnect();
    log.splice(0);
    termB.terminal.installTroubledTerminalList(centre.troubledTerminalList().encode());
    ch = await connect(one.reader);
    const s4 = await termB.terminal.serve(ch, 10, { password: '2468' });
    await ch.disconnect();
    log.splice(0);
    ch = await connect(two.reader);
    const stolen = await outcome(termB.terminal.serve(ch, 10));
    await ch.disconnect();
    log.splice(0);
    blocks.set('stolen', [
      `K = ${toHex(termA.chainKey)}   TS_0 = ${toHex(termA.ts0)}`,
      ...ts,
      `TERM-A at t = 1 serves CARD-0001 (V ${s3.valueBefore} → ${s3.valueAfter}); reported stolen: t at report = ${reportedT}`,
      `the thief moves TERM-A to t = ${termA.terminal.updateCounter} and serves CARD-0002 (V 900 → 800)`,
      `TERM-B installs troubled-terminal list v${termB.terminal.troubledTerminalListVersion ?? '-'}`,
      `TERM-B serves CARD-0001 (last usage TERM-A, t = 1 ≤ ${reportedT}): accepted, V ${s4.valueBefore} → ${s4.valueAfter}`,
      `TERM-B serves CARD-0002 (last usage TERM-A, t = 2 > ${reportedT}): ${stolen}`,
    ]);

    // Fig. 5: a certified terminal that signs V' > V. The card records the abnormality and
    // disables itself; afterwards it answers 9410 to everything but SELECT and READ OBJECT.
    ch = await connect(two.reader);
    await ch.transmit(A.selectSettle());
    await ch.transmit(A.presentTerminal(clock.now(), termB.certificate));
    const r = new Uint8Array(16).fill(0x33);
    const signed = (await ch.transmit(A.signValue(r))).data;
    const x = signed.slice(0, 16);
    const v = u32(signed, 16);
    const rogue = { cardId: two.idu, terminalId: termB.idt, terminalNonce: r, cardNonce: x };
    const dateTime = clock.now();
    const s = signWith(termB.signer, terminalValueInput({ ...rogue, value: v + 1000, dateTime }));
    const raise = new UsageInfo({
      ...rogue,
      terminalCertificate: UsageInfo.decode(s2.usageInfo.encode()).terminalCertificate,
      updateCounter: 0,
      value: v + 1000,
      valueSignature: s,
      timeStampSignature: signWith(
        termB.signer,
        timeStampInput({ terminalId: termB.idt, updateCounter: 0, timeStamp: termB.ts0, valueSignature: s }),
      ),
      dateTime,
    });
    await ch.transmit(A.updateValue(raise.encode()));
    await ch.transmit(A.signValue(r));
    await ch.transmit(A.readObject(0x04));
    await ch.disconnect();
    blocks.set('value-increase', log.splice(0));

    // Fig. 9: the daily uploads; clearing; service records; billing.
    clock.advance(600_000);
    const clearing: string[] = [];
    const batchB = termB.terminal.upload();
    clearing.push(
      `upload TERM-A #1 without the card's service records: ${await outcome(Promise.resolve().then(() => centre.ingestUpload(batchA.upload.encode(), termA.certificate)))}`,
    );
    for (const [name, batch, cert] of [
      ['TERM-A', batchA, termA.certificate],
      ['TERM-B', batchB, termB.certificate],
    ] as const) {
      // the upload with the card-signed service records that confirm its records (rule 7)
      const rep = centre.ingestUpload(batch, cert);
      clearing.push(
        `upload ${name} #${rep.uploadSequence}: ${batch.upload.records.length} records, stored ${rep.stored}, repeated ${rep.repeated}, findings ${rep.findings.length === 0 ? 'none' : rep.findings.map((f) => f.reason).join(', ')}`,
      );
      for (const sr of batch.serviceRecords) centre.storeServiceRecord(sr.encode());
    }
    clearing.push(
      `the same TERM-B upload again: ${await outcome(Promise.resolve().then(() => centre.ingestUpload(batchB)))}`,
    );
    const row = centre.card(one.idu)!;
    clearing.push(`centre's view of CARD-0001: state ${row.state}, last V ${row.lastValue}`);
    const bill = centre.billing(one.idu, { from: EXAMPLE_T0, to: EXAMPLE_T0 + 2 * DAY });
    clearing.push(
      `post-paid bill of CARD-0001, ${new Date(EXAMPLE_T0).toISOString().slice(0, 10)}..+2 days: ${bill.count} services, total ${bill.total}`,
    );
    clearing.push(
      `reconcile CARD-0001: ${
        centre
          .reconcile(one.idu)
          .map((f) => f.reason)
          .join(', ') || 'no findings'
      }`,
    );
    blocks.set('clearing', clearing);

    // Destroyed card (CARD-0002 disabled itself): refund of the last known V, once.
    const destroyed: string[] = [];
    destroyed.push(`destroyedCard(CARD-0002) → last known V ${centre.destroyedCard(two.idu)}`);
    destroyed.push(`refundDestroyed(CARD-0002) → ${centre.refundDestroyed(two.idu)}`);
    destroyed.push(
      `refundDestroyed(CARD-0002) again → ${await outcome(Promise.resolve().then(() => centre.refundDestroyed(two.idu)))}`,
    );
    blocks.set('destroyed', destroyed);

    // Fig. 7 recharge: the dispenser reads the card's state, the centre signs V + 2000 bound to it.
    clock.advance(600_000);
    ch = await connect(one.reader);
    const state = await readSettlementCardState(ch);
    const sv = centre.signValue(
      one.idu,
      rechargedValue(state, 2000),
      EXAMPLE_T0 + 365 * DAY,
      state.reference,
    );
    await rechargeSettlementCard(ch, sv);
    await ch.transmit(A.recharge(sv.encode()));
    await ch.disconnect();
    blocks.set('recharge', log.splice(0));

    // Fig. 9 clones: CARD-0001's whole EEPROM copied into a second chip; both served at TERM-B.
    clock.advance(600_000);
    const cfg = { idu: toHex(one.idu), anchor: toHex(centre.anchor.encode()), algorithm: ALG };
    const copy = rebuildSettlementCard(
      cfg,
      one.card.os.store.image(),
      new SeededRng(`${SETTLE_SEED}:clone`),
      provider,
    );
    const clone: string[] = [];
    ch = await connect(one.reader);
    const o1 = await termB.terminal.serve(ch, 50, { password: '2468' });
    await ch.disconnect();
    ch = await connect(new VirtualReader('copy', copy.os));
    const o2 = await termB.terminal.serve(ch, 50, { password: '2468' });
    await ch.disconnect();
    log.splice(0);
    clone.push(
      `TERM-B serves CARD-0001 (V ${o1.valueBefore} → ${o1.valueAfter}) and its copy (V ${o2.valueBefore} → ${o2.valueAfter}): both accepted offline`,
    );
    const rep = centre.ingestUpload(termB.terminal.upload(), termB.certificate);
    clone.push(
      `upload TERM-B #${rep.uploadSequence}: stored ${rep.stored}, findings ${rep.findings.map((f) => f.reason).join(', ')}; invalid-card list v${rep.invalidListVersion}`,
    );
    clone.push(`centre's view of CARD-0001: state ${centre.card(one.idu)!.state}`);
    termB.terminal.installInvalidCardList(centre.invalidCardList().encode());
    ch = await connect(one.reader);
    clone.push(
      `TERM-B with the new list serves CARD-0001: ${await outcome(termB.terminal.serve(ch, 1, { password: '2468' }))}`,
    );
    await ch.disconnect();
    log.splice(0);
    blocks.set('clone', clone);
    return blocks;
  } finally {
    centre.close();
  }
}

/** Replaces the body of every `<!-- example:NAME -->` fenced block of `doc` with the generated text. */
export function fill(doc: string, blocks: Map<string, string[]>): string {
  return doc.replace(
    /<!-- example:([a-z-]+) -->\n```(apdu|values)\n[\s\S]*?```/g,
    (whole, name: string, kind: string) => {
      const b = blocks.get(name);
      if (!b) return whole;
      return `<!-- example:${name} -->\n\`\`\`${kind}\n${b.join('\n')}\n\`\`\``;
    },
  );
}

export const DOC_PATH = fileURLToPath(new URL('../../docs/settlement.md', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const blocks = await generate();
  if (process.argv.includes('--write')) {
    writeFileSync(DOC_PATH, fill(readFileSync(DOC_PATH, 'utf8'), blocks));
    console.log(`wrote ${[...blocks.keys()].join(', ')} into ${DOC_PATH}`);
  } else for (const [k, v] of blocks) console.log(`== ${k}\n${v.join('\n')}`);
}
