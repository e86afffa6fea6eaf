/**
 * All-or-nothing through the whole card: random sequences of file updates (UPDATE BINARY,
 * UPDATE/APPEND RECORD on transparent, linear-fixed, cyclic and linear-variable EFs), each torn
 * at a random low-level write, compared with a twin card that is never torn. After every
 * recovery the torn card's data area equals the twin's before or after that command — never
 * anything in between.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import { sampleIsoConfig } from '../../card/os/CardProfiles.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import type { EfSpec } from '../../card/fs/FileSpec.js';
import { toHex } from '../../card/util/hex.js';
import { DEMO_AID, sampleCard } from '../os/helpers.js';

function openConfig(): Record<string, unknown> {
  const cfg = sampleIsoConfig('T=1');
  const df = cfg.fs.children!.find((c) => c.type === 'df')!;
  if (df.type !== 'df') throw new Error('no DF');
  for (const c of df.children ?? [])
    if (c.type === 'ef') (c as EfSpec).access = { read: 'always', update: 'always' };
  return cfg as unknown as Record<string, unknown>;
}

const hex = (n: number, len = 1) => n.toString(16).padStart(2 * len, '0');
const command = fc.oneof(
  fc
    .tuple(fc.nat(255), fc.uint8Array({ minLength: 1, maxLength: 40 }))
    .map(([off, d]) => `00D681${hex(off)}${hex(d.length)}${toHex(d)}`), // SFI 1: no current-EF state
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.uint8Array({ minLength: 16, maxLength: 16 }))
    .map(([n, d]) => `00DC${hex(n)}1410${toHex(d)}`),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((d) => `00E2001808${toHex(d)}`),
  fc.uint8Array({ minLength: 1, maxLength: 32 }).map((d) => `00DC0224${hex(d.length)}${toHex(d)}`),
  fc.uint8Array({ minLength: 1, maxLength: 32 }).map((d) => `00E20020${hex(d.length)}${toHex(d)}`),
);

const data = (c: Iso7816Os) => c.store.read(0, c.store.dataSize);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

describe('tearing through the card OS (property)', () => {
  it('every torn file update is all or nothing after recovery', () => {
    let torn = 0;
    let appliedAfterTear = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(command, fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 12 }),
        (steps) => {
          const twin = sampleCard('T=1', openConfig());
          const subject = sampleCard('T=1', openConfig());
          for (const t of [twin, subject]) t.tx(`00A4040C08${DEMO_AID}`);
          // Both cards start with the same data area (same profile, same RNG seed).
          expect(same(data(twin.card), data(subject.card))).toBe(true);
          for (const [cmd, k] of steps) {
            const before = data(subject.card);
            const sw = twin.tx(cmd).slice(-4);
            const after = data(twin.card);
            subject.card.store.armTear(k);
            let lost = false;
            try {
              expect(subject.tx(cmd).slice(-4)).toBe(sw);
            } catch (e) {
              if (!(e instanceof CardPowerLostError)) throw e;
              lost = true;
            }
            subject.card.store.disarmTear();
            if (lost) {
              torn++;
              subject.card.powerUp();
              subject.tx(`00A4040C08${DEMO_AID}`);
              const now = data(subject.card);
              if (same(now, after)) appliedAfterTear++;
              else if (same(now, before))
                subject.tx(cmd); // the command was lost: the terminal retries
              else throw new Error(`torn ${cmd} at write ${k}: neither before nor after`);
            }
            if (!same(data(subject.card), after)) throw new Error(`diverged after ${cmd}`);
          }
        },
      ),
      { numRuns: 150, seed: 11 },
    );
    // The sweep really tore commands, on both sides of the commit point.
    expect(torn).toBeGreaterThan(200);
    expect(appliedAfterTear).toBeGreaterThan(20);
  });
});
