/**
 * A failure at every database write of the centre's state-changing operations (a crash, a full
 * disk): the operation's one transaction rolls back whole — no record half-cleared, no card
 * half-listed, no refund without its state — and doing it again gives exactly the result of a run
 * that never failed (nothing lost, nothing counted twice).
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock, NodeSignatureProvider, SeededRng } from '../../card/crypto/index.js';
import type { KeyPairDer } from '../../card/crypto/index.js';
import { fromHex } from '../../card/util/hex.js';
import { ManagementCentre } from '../../host/settlement/ManagementCentre.js';
import { SettlementDb } from '../../host/settlement/db/SettlementDb.js';
import { ExampleCard, ExampleTerminal } from '../../host/settlement/examples.js';

const provider = new NodeSignatureProvider();
const ALG = 'ecdsa-p256-sha256' as const;
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const CENTRE = fromHex('C0');
const VALIDITY = { notBefore: T0, notAfter: T0 + 365 * DAY };
const idu = (i: number) => fromHex(`4D0${i}`);
const idt = (i: number) => fromHex(`7E0${i}`);

let centreKeys: KeyPairDer;
const keys: KeyPairDer[] = [];
beforeAll(() => {
  centreKeys = provider.generateKeyPair(ALG);
  for (let i = 0; i < 4; i++) keys.push(provider.generateKeyPair(ALG));
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Two cards, two terminals; T1's upload cleared; T2's upload (a clone, an honest record, t=3) pending. */
function scenario() {
  const clock = new ManualClock(T0 + DAY);
  const centre = new ManagementCentre({
    file: ':memory:',
    provider,
    clock,
    rng: new SeededRng('tear'),
    maxValue: 10_000,
    centreId: CENTRE,
    keyPair: centreKeys,
  });
  const rng = new SeededRng('tear:world');
  const cards = [1, 2].map((i) => {
    centre.certifyCard(idu(i), keys[i - 1]!.publicKey, VALIDITY, ALG);
    centre.signValue(idu(i), 1000, T0 + 100 * DAY);
    return new ExampleCard(idu(i), provider.signer(ALG, keys[i - 1]!.privateKey), 1000, CENTRE);
  });
  const terms = [1, 2].map((i) => {
    centre.certifyTerminal(
      idt(i),
      keys[i + 1]!.publicKey,
      { key: new Uint8Array(16), ts0: new Uint8Array(16).fill(i) },
      VALIDITY,
      ALG,
    );
    return new ExampleTerminal(idt(i), provider.signer(ALG, keys[i + 1]!.privateKey), rng);
  });
  let at = clock.now();
  const copy = cards[0]!.clone();
  terms[0]!.serve(cards[0]!, 100, (at += 1000));
  terms[1]!.serve(copy, 200, (at += 1000));
  terms[1]!.serve(cards[1]!, 300, (at += 1000));
  terms[1]!.t = 3;
  centre.ingestUpload(terms[0]!.batch(CENTRE, T0, at));
  return { centre, pending: terms[1]!.batch(CENTRE, T0, at) };
}

const snapshot = (c: ManagementCentre) => ({
  cleared: c.clearedRecords(),
  cards: [c.card(idu(1)), c.card(idu(2))],
  t: c.terminal(idt(2))!.t,
  events: c.events().map((e) => [e.kind, e.reason, e.subject]),
});

const WRITES = [
  'insertUpload',
  'insertUsage',
  'setCardValue',
  'insertEvent',
  'bumpInvalidVersion',
  'invalidateCard',
  'setTerminalT',
] as const;

describe('ManagementCentre: a failure at any write of an upload', () => {
  it('rolls the upload back whole, and clearing it again gives the undisturbed result', () => {
    const reference = scenario();
    const counts = new Map<string, number>();
    for (const m of WRITES) {
      const real = SettlementDb.prototype[m] as (...a: unknown[]) => unknown;
      vi.spyOn(SettlementDb.prototype, m).mockImplementation(function (this: SettlementDb, ...a: unknown[]) {
        counts.set(m, (counts.get(m) ?? 0) + 1);
        return real.apply(this, a);
      } as never);
    }
    const report = reference.centre.ingestUpload(reference.pending);
    vi.restoreAllMocks();
    expect(report.findings.map((f) => f.reason)).toEqual(['clone']);
    const done = snapshot(reference.centre);
    expect(done.cards[0]!.state).toBe('invalid');
    for (const m of WRITES) expect(counts.get(m), m).toBeGreaterThan(0);

    let torn = 0;
    for (const m of WRITES) {
      for (let k = 1; k <= counts.get(m)!; k++) {
        const { centre, pending } = scenario();
        const before = snapshot(centre);
        const real = SettlementDb.prototype[m] as (...a: unknown[]) => unknown;
        let calls = 0;
        vi.spyOn(SettlementDb.prototype, m).mockImplementation(function (
          this: SettlementDb,
          ...a: unknown[]
        ) {
          if (++calls === k) throw new Error(`power cut at ${m} #${k}`);
          return real.apply(this, a);
        } as never);
        expect(() => centre.ingestUpload(pending), `${m} #${k}`).toThrow(/power cut/);
        vi.restoreAllMocks();
        expect(snapshot(centre), `${m} #${k}`).toEqual(before);
        expect(centre.ingestUpload(pending)).toEqual(report);
        expect(snapshot(centre), `${m} #${k}`).toEqual(done);
        centre.close();
        torn++;
      }
    }
    expect(torn).toBeGreaterThanOrEqual(WRITES.length);
  });
});

describe('ManagementCentre: a failure inside a refund', () => {
  it('pays nothing, and the refund made again pays once', () => {
    const { centre } = scenario();
    expect(centre.destroyedCard(idu(2))).toBe(1000);
    const real = SettlementDb.prototype.setCardState;
    vi.spyOn(SettlementDb.prototype, 'setCardState').mockImplementation(function () {
      throw new Error('power cut after the refund row');
    });
    expect(() => centre.refundDestroyed(idu(2))).toThrow(/power cut/);
    vi.restoreAllMocks();
    expect(SettlementDb.prototype.setCardState).toBe(real);
    expect(centre.card(idu(2))!.state).toBe('destroyed');
    expect(centre.refundDestroyed(idu(2))).toBe(1000);
    expect(() => centre.refundDestroyed(idu(2))).toThrow(/already refunded/);
  });
});
