/**
 * Issue 13, "import keys once": the card keeps its imported private key only while powered, and
 * parsed subject keys are kept by exact SPKI bytes AND algorithm, looked up only after the
 * certificate carrying them verified in full. These tests attack the caches: a cached key must
 * never let a certificate through that would be refused without the cache.
 */
import { describe, expect, it } from 'vitest';
import { NodeSignatureProvider } from '../../card/crypto/NodeSignatureProvider.js';
import { SeededRng } from '../../card/crypto/rng.js';
import type { SignatureAlgorithm, SignatureProvider, Verifier } from '../../card/crypto/signature.js';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import {
  CentreTrust,
  Certificate,
  SUBJECT_KEY_CACHE_SIZE,
  ServiceRecord,
  SettlementPkiError,
  SubjectKeyCache,
  verifyServiceRecord,
} from '../../card/pki/index.js';
import { makeSettlementCard } from '../../card/applets/settle/makeSettlementCard.js';
import { SETTLE_OBJ_PUBLIC_KEY } from '../../card/applets/settle/constants.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import {
  certifySettlementCard,
  rechargeSettlementCard,
} from '../../terminal/settlement/SettlementTerminal.js';
import {
  A,
  Centre,
  DAY,
  T0,
  YEAR,
  ascii,
  hexSw,
  makeTerminal,
  newClock,
  provider,
  tx,
} from './fixtureSettle.js';

const ALG = 'ecdsa-p256-sha256' as const;

/** A provider that counts the keys it imports (signer / verifier factories). */
function counting(p: SignatureProvider = provider): {
  provider: SignatureProvider;
  calls: { signer: number; verifier: number };
} {
  const calls = { signer: 0, verifier: 0 };
  return {
    calls,
    provider: {
      name: p.name,
      supports: (a) => p.supports(a),
      generateKeyPair: (a) => p.generateKeyPair(a),
      signer: (a, k, o) => {
        calls.signer++;
        return p.signer(a, k, o);
      },
      verifier: (a, k, o) => {
        calls.verifier++;
        return p.verifier(a, k, o);
      },
    },
  };
}

const centre = new Centre(ascii('KC-CENTRE'), ALG);
/** Same centre id, other key: its certificates carry a signature the real centre never made. */
const forger = new Centre(ascii('KC-CENTRE'), ALG);
const ecKeys = provider.generateKeyPair(ALG);
const rsaKeys = provider.generateKeyPair('rsa-pkcs1v15-sha256');
const idt = ascii('KC-TERM-1');

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SettlementPkiError) return e.reason;
    throw e;
  }
  return 'accepted';
}

describe('SubjectKeyCache', () => {
  const build = (calls: SignatureAlgorithm[]) => (alg: SignatureAlgorithm, spki: Uint8Array) => {
    calls.push(alg);
    return new NodeSignatureProvider().verifier(alg, spki);
  };

  it('builds once per (algorithm, SPKI bytes); the same SPKI under another algorithm is another entry', () => {
    const calls: SignatureAlgorithm[] = [];
    const cache = new SubjectKeyCache(build(calls));
    const v1 = cache.verifier('rsa-pkcs1v15-sha256', rsaKeys.publicKey);
    expect(cache.verifier('rsa-pkcs1v15-sha256', rsaKeys.publicKey.slice())).toBe(v1);
    const pss = cache.verifier('rsa-pss-sha256', rsaKeys.publicKey);
    expect(pss).not.toBe(v1);
    expect(pss.algorithm).toBe('rsa-pss-sha256');
    expect(calls).toEqual(['rsa-pkcs1v15-sha256', 'rsa-pss-sha256']);
    // The PSS verifier does not take a PKCS#1 v1.5 signature by the same key, nor the reverse.
    const data = ascii('R||X||V');
    const v15sig = provider.signer('rsa-pkcs1v15-sha256', rsaKeys.privateKey).sign(data);
    const psssig = provider.signer('rsa-pss-sha256', rsaKeys.privateKey).sign(data);
    expect(v1.verify(data, v15sig)).toBe(true);
    expect(pss.verify(data, v15sig)).toBe(false);
    expect(pss.verify(data, psssig)).toBe(true);
    expect(v1.verify(data, psssig)).toBe(false);
  });

  it('one byte more, less or other in the SPKI misses (exact bytes), and a caller changing its bytes afterwards changes nothing', () => {
    const calls: SignatureAlgorithm[] = [];
    const cache = new SubjectKeyCache(build(calls));
    const spki = ecKeys.publicKey.slice();
    const v = cache.verifier(ALG, spki);
    spki[spki.length - 1]! ^= 1; // now another (probably invalid) point: must not hit
    expect(() => cache.verifier(ALG, spki)).toThrow();
    expect(() => cache.verifier(ALG, ecKeys.publicKey.subarray(0, ecKeys.publicKey.length - 1))).toThrow();
    expect(cache.size).toBe(1);
    expect(cache.verifier(ALG, ecKeys.publicKey)).toBe(v);
    expect(calls.length).toBe(3);
  });

  it('a failed build is not kept: a refused key is refused again', () => {
    let n = 0;
    const cache = new SubjectKeyCache(() => {
      n++;
      throw new SettlementPkiError('malformed', 'no');
    });
    expect(() => cache.verifier(ALG, ecKeys.publicKey)).toThrow(SettlementPkiError);
    expect(() => cache.verifier(ALG, ecKeys.publicKey)).toThrow(SettlementPkiError);
    expect([n, cache.size]).toEqual([2, 0]);
  });

  it('a build that answers for another algorithm is refused, not kept', () => {
    const cache = new SubjectKeyCache(() => provider.verifier(ALG, ecKeys.publicKey));
    expect(() => cache.verifier('rsa-pss-sha256', ecKeys.publicKey)).toThrow(
      /ecdsa-p256-sha256 verifier for rsa-pss/,
    );
    expect(cache.size).toBe(0);
  });

  it('holds at most its capacity, dropping the least recently used; capacity 1..4096', () => {
    expect(SUBJECT_KEY_CACHE_SIZE).toBe(64);
    const fake = (alg: SignatureAlgorithm): Verifier => ({ algorithm: alg, verify: () => false });
    let built = 0;
    const cache = new SubjectKeyCache((alg) => {
      built++;
      return fake(alg);
    }, 3);
    const k = (i: number) => Uint8Array.of(0x30, i);
    const a = cache.verifier(ALG, k(1));
    cache.verifier(ALG, k(2));
    cache.verifier(ALG, k(3));
    expect(cache.verifier(ALG, k(1))).toBe(a); // touched: k(2) is now the oldest
    cache.verifier(ALG, k(4)); // capacity + 1
    expect([cache.size, built]).toEqual([3, 4]);
    expect(cache.verifier(ALG, k(1))).toBe(a);
    expect(built).toBe(4);
    cache.verifier(ALG, k(2)); // was dropped: built again
    expect(built).toBe(5);
    cache.clear();
    expect(cache.size).toBe(0);
    for (const bad of [0, 4097, 1.5, Number.NaN])
      expect(() => new SubjectKeyCache((alg) => fake(alg), bad)).toThrow(/capacity/);
    expect(new SubjectKeyCache((alg) => fake(alg), 4096).capacity).toBe(4096);
  });
});

describe('CentreTrust: a cached subject key never stands in for a certificate check', () => {
  const now = T0;
  const good = centre.certify('terminal', idt, ecKeys.publicKey, ALG);

  function trust() {
    const c = counting();
    return { ...c, trust: CentreTrust.fromAnchor(centre.anchor, c.provider, now) };
  }

  it('parses the subject key once for repeated checks of the same certificate', () => {
    const { trust: t, calls } = trust();
    const before = calls.verifier;
    const v = t.verifyCertificate(good, 'terminal', now);
    expect(t.verifyCertificate(good, 'terminal', now)).toBe(v);
    expect(calls.verifier - before).toBe(1);
  });

  it('with the key cached: same SPKI under a bad signature, another kind, out of its validity, another centre — each refused as without the cache', () => {
    const { trust: t } = trust();
    t.verifyCertificate(good, 'terminal', now); // key cached
    const forged = forger.certify('terminal', idt, ecKeys.publicKey, ALG);
    expect(forged.subjectPublicKey).toEqual(good.subjectPublicKey);
    expect(reason(() => t.verifyCertificate(forged, 'terminal', now))).toBe('bad-signature');
    // A genuine certificate of another kind carrying the cached key.
    const asCard = centre.certify('card', idt, ecKeys.publicKey, ALG);
    expect(reason(() => t.verifyCertificate(asCard, 'terminal', now))).toBe('wrong-kind');
    expect(reason(() => t.verifyCertificate(good, 'card', now))).toBe('wrong-kind');
    const expired = centre.certify('terminal', idt, ecKeys.publicKey, ALG, T0 - 2 * DAY, T0 - DAY);
    expect(reason(() => t.verifyCertificate(expired, 'terminal', now))).toBe('expired');
    const early = centre.certify('terminal', idt, ecKeys.publicKey, ALG, T0 + DAY, T0 + YEAR);
    expect(reason(() => t.verifyCertificate(early, 'terminal', now))).toBe('not-yet-valid');
    const other = new Centre(ascii('KC-OTHER'), ALG).certify('terminal', idt, ecKeys.publicKey, ALG);
    expect(reason(() => t.verifyCertificate(other, 'terminal', now))).toBe('other-centre');
    // And the good one still passes afterwards (no verdict was cached either way).
    expect(t.verifyCertificate(good, 'terminal', now).algorithm).toBe(ALG);
  });

  it('a key cached under one algorithm is not used for another: the certificate’s algorithm decides', () => {
    const { trust: t, calls } = trust();
    const asV15 = centre.certify('card', ascii('KC-CARD'), rsaKeys.publicKey, 'rsa-pkcs1v15-sha256');
    const asPss = centre.certify('card', ascii('KC-CARD'), rsaKeys.publicKey, 'rsa-pss-sha256');
    const before = calls.verifier;
    const v15 = t.verifyCertificate(asV15, 'card', now);
    const pss = t.verifyCertificate(asPss, 'card', now);
    expect(calls.verifier - before).toBe(2);
    expect([v15.algorithm, pss.algorithm]).toEqual(['rsa-pkcs1v15-sha256', 'rsa-pss-sha256']);
    // A record signed PKCS#1 v1.5 by that key is refused under the PSS certificate's verifier.
    const rec = ServiceRecord.sign(
      {
        cardId: ascii('KC-CARD'),
        terminalId: idt,
        cardSequence: 1,
        terminalNonce: new Uint8Array(16),
        cardNonce: new Uint8Array(16),
        charge: 1,
        valueAfter: 1,
        dateTime: now,
        service: '',
      },
      provider.signer('rsa-pkcs1v15-sha256', rsaKeys.privateKey),
    );
    expect(reason(() => verifyServiceRecord(rec, v15))).toBe('accepted');
    expect(reason(() => verifyServiceRecord(rec, pss))).toBe('unsupported-algorithm');
  });

  it('a subject key the policy refuses is refused every time (failures are not cached)', () => {
    // ECDSA key bytes certified as an RSA key: the provider refuses it, at each check.
    const bad = centre.certify('card', ascii('KC-CARD'), ecKeys.publicKey, 'rsa-pkcs1v15-sha256');
    const { trust: t, calls } = trust();
    const before = calls.verifier;
    expect(reason(() => t.verifyCertificate(bad, 'card', now))).toBe('malformed');
    expect(reason(() => t.verifyCertificate(bad, 'card', now))).toBe('malformed');
    expect(calls.verifier - before).toBe(2);
  });
});

describe('settlement card: the private key is imported once per power-up', () => {
  async function issue(name: string, cp: SignatureProvider) {
    const idu = ascii(name);
    const card = makeSettlementCard({
      idu,
      anchor: centre.anchor.encode(),
      algorithm: ALG,
      rng: new SeededRng(`kc:${name}`),
      provider: cp,
    });
    const reader = new VirtualReader(`kc ${name}`, card.os);
    const ch = await reader.connect();
    await ch.transmit(A.selectSettle());
    const spki = (await ch.transmit(A.readObject(SETTLE_OBJ_PUBLIC_KEY))).data;
    await certifySettlementCard(ch, centre.certify('card', idu, spki, ALG));
    await rechargeSettlementCard(ch, centre.value(idu, 10_000, 1));
    await ch.disconnect();
    return { card, reader, idu };
  }

  it('kept across SELECTs and sessions while powered; imported again after power-down, warm reset and a tear; every record verifies', async () => {
    const { provider: cp, calls } = counting();
    const clock = newClock();
    const kit = makeTerminal(centre, 'KC-TERM-2', clock, ALG, ecKeys);
    const c = await issue('KC-CARD-1', cp);
    const serve = async (disposition: 'leave' | 'reset' | 'unpower') => {
      clock.advance(1000);
      const before = calls.signer;
      const ch = await c.reader.connect({ disposition });
      const out = await kit.terminal.serve(ch, 1); // throws unless both card signatures verify
      await ch.disconnect();
      expect(out.serviceRecord.cardId).toEqual(c.idu);
      return calls.signer - before;
    };
    // Two signatures per settlement (SU(R‖X‖V), the service record): one import.
    expect(await serve('leave')).toBe(1);
    expect(await serve('leave')).toBe(0); // still powered: a SELECT does not drop the key
    expect(await serve('reset')).toBe(0); // the warm reset comes at the disconnect
    expect(await serve('unpower')).toBe(1);
    expect(await serve('leave')).toBe(1); // powered up by this connect after the power-down
    // A tear: the OS loses power mid-command; the next power-up imports the key again.
    c.card.store.armTear(1);
    const ch = await c.reader.connect({ disposition: 'leave' });
    await expect(ch.transmit(A.selectSettle())).resolves.toBeDefined();
    clock.advance(1000);
    await expect(kit.terminal.serve(ch, 1)).rejects.toThrow();
    expect(c.card.os.powered).toBe(false);
    expect(await serve('unpower')).toBe(1);
  });

  it('with the terminal key cached on the card: a forged certificate with the same SPKI, another kind, or an expired one is refused at PRESENT TERMINAL', async () => {
    const { provider: cp, calls } = counting();
    const c = await issue('KC-CARD-2', cp);
    c.card.os.powerUp();
    const present = (cert: Certificate) => {
      expect(hexSw(tx(c.card, A.selectSettle()).sw)).toBe('9000');
      return hexSw(tx(c.card, A.presentTerminal(T0, cert.encode())).sw);
    };
    const good = centre.certify('terminal', idt, ecKeys.publicKey, ALG);
    const before = calls.verifier;
    expect(present(good)).toBe('9000');
    expect(present(good)).toBe('9000');
    expect(calls.verifier - before).toBe(1); // the cache is in use: the refusals below are with it
    expect(present(forger.certify('terminal', idt, ecKeys.publicKey, ALG))).toBe('9411');
    expect(present(centre.certify('card', idt, ecKeys.publicKey, ALG))).toBe('9412');
    expect(present(centre.certify('dispenser', idt, ecKeys.publicKey, ALG))).toBe('9412');
    expect(present(centre.certify('terminal', idt, ecKeys.publicKey, ALG, T0 - 2 * DAY, T0 - DAY))).toBe(
      '9413',
    );
    const other = new Centre(ascii('KC-OTHER'), ALG).certify('terminal', idt, ecKeys.publicKey, ALG);
    expect(present(other)).toBe('9414');
    // The same key bytes declared as an RSA key: refused (no ECDSA entry answers for RSA).
    expect(present(centre.certify('terminal', idt, ecKeys.publicKey, 'rsa-pkcs1v15-sha256'))).toBe('6A80');
    expect(present(good)).toBe('9000');
  });

  it('a power cut while the key is imported loses no value and creates none', async () => {
    const { provider: cp } = counting();
    const clock = newClock();
    const kit = makeTerminal(centre, 'KC-TERM-3', clock, ALG, ecKeys);
    const c = await issue('KC-CARD-3', cp);
    let ch = await c.reader.connect({ disposition: 'leave' });
    clock.advance(1000);
    const first = await kit.terminal.serve(ch, 7);
    expect(first.valueAfter).toBe(10_000 - 7);
    // Cut power inside the next UPDATE VALUE's commit (after the key was imported this session).
    c.card.store.armTear(2);
    clock.advance(1000);
    await expect(kit.terminal.serve(ch, 5)).rejects.toThrow();
    expect(() => c.card.os.transmit(A.selectSettle().encode())).toThrow(CardPowerLostError);
    ch = await c.reader.connect();
    clock.advance(1000);
    const next = await kit.terminal.serve(ch, 3);
    expect([9_993, 9_988]).toContain(next.valueBefore);
    expect(next.valueAfter).toBe(next.valueBefore - 3);
  });
});
