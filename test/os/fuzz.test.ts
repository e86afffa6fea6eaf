/**
 * Bad input: at least 100,000 random and mutated APDUs against the sample file-system card with a
 * PIN. Nothing escapes transmit, every answer ends in a valid ISO/IEC 7816-4 §5.6 status word,
 * nothing is answered 6F00 (no unexpected exception inside the OS), and the persistent image
 * changes only for a successful write or a PIN try.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex } from '../../card/util/hex.js';
import { buildIsoCard, sampleIsoConfig, type IsoCardConfig } from '../../card/os/CardProfiles.js';
import type { CardServices, CommandContext, HandlerResult } from '../../card/os/Applet.js';
import { RuntimeApplet, type Application } from '../../card/applets/platform/RuntimeApplet.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { MalformedDataError, SwError } from '../../card/iso7816/errors.js';
import { SeededRng } from '../../card/crypto/rng.js';
import { PIN_OK, PUK, DEMO_AID, cipher, sampleCard } from './helpers.js';

const VALID = [
  '00A40000023F00',
  '00A4000C023F00',
  `00A4040008${DEMO_AID}00`,
  `00A4040C08${DEMO_AID}`,
  '00A4000C025001',
  '00A4020C025002',
  '00A4080C0450005003',
  '00A40300',
  '00B0000010',
  '00B0810000',
  '00D6000004DEADBEEF',
  '00D6810204CAFEBABE',
  '00B2010C00',
  '00B2011400',
  '00B2021400',
  '00B2001600',
  '00DC011410' + '55'.repeat(16),
  '00E2001808' + '77'.repeat(8),
  '00E2002003CCCCCC',
  '00B2012400',
  '0020008100',
  '0020008108' + PIN_OK,
  '0020008108' + '39393939FFFFFFFF',
  '002C00821031323334353637383132333435FFFFFF',
  '002C000008' + PUK,
  '002C008108' + PUK,
  '0024008110' + PIN_OK + PIN_OK,
  '0084000008',
  '0088000108' + '0011223344556677' + '00',
  '0082000108' + '0011223344556677',
  '0070000001',
  '0070800100',
  '01B0000010',
  '00C0000010',
  '80CA000000',
  '0CB0000010',
  '00A4040C05F000000001',
  '8010000002AABB',
  '8012000010',
  '8014000000',
];

const WRITERS = new Set([0xd6, 0xdc, 0xe2, 0x20, 0x24, 0x2c, 0x10]);

/** An application with a persistent cell, a file read, and a parser that rejects its input. */
class FuzzApp implements Application {
  readonly #cell: number;
  constructor(services: CardServices) {
    this.#cell = services.store.allocate('fuzz:cell', 4).offset;
  }
  select(): Uint8Array {
    return new Uint8Array(0);
  }
  reset(): void {}
  process(apdu: CommandApdu, ctx: CommandContext): HandlerResult {
    switch (apdu.ins) {
      case 0x10:
        if (apdu.nc < 1 || apdu.nc > 4) throw new SwError(0x6700);
        ctx.store.atomic(() => ctx.store.write(this.#cell, apdu.dataView()));
        return;
      case 0x12: {
        const ef = ctx.fs.resolvePath(ctx.fs.mf, [0x5000, 0x5001]);
        if (!ef || ef.kind !== 'ef') throw new SwError(0x6a82);
        return ctx.fs.readBinary(ef, apdu.p2, apdu.ne ?? 0);
      }
      case 0x14:
        throw new MalformedDataError('bad TLV', apdu.nc, apdu.data, 'tlv');
    }
    throw new SwError(0x6d00);
  }
}

const fuzzApplet = () =>
  new RuntimeApplet<FuzzApp>({
    aid: Uint8Array.of(0xf0, 0, 0, 0, 1),
    ins: [0x10, 0x12, 0x14],
    layout: [],
    prefix: 'fuzz:',
    make: (_records, _cipher, _rng, services) => new FuzzApp(services),
    personalise: () => undefined,
  });

const randomBytes = fc.uint8Array({ minLength: 0, maxLength: 270 });
const mutated = fc
  .tuple(
    fc.constantFrom(...VALID.map((h) => fromHex(h))),
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('set' as const), at: fc.nat(40), value: fc.nat(255) }),
        fc.record({ kind: fc.constant('cut' as const), at: fc.nat(40), value: fc.nat(255) }),
        fc.record({ kind: fc.constant('add' as const), at: fc.nat(40), value: fc.nat(255) }),
      ),
      { maxLength: 3 },
    ),
  )
  .map(([base, muts]) => {
    let b = Array.from(base);
    for (const m of muts) {
      if (m.kind === 'set' && b.length > 0) b[m.at % b.length] = m.value;
      else if (m.kind === 'cut') b = b.slice(0, m.at % (b.length + 1));
      else if (m.kind === 'add') b.push(m.value);
    }
    return Uint8Array.from(b);
  });
const structured = fc
  .record({
    cla: fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x0c, 0x10, 0x40, 0x41, 0x60, 0x80, 0x84, 0x20, 0xff),
    ins: fc.constantFrom(
      0xa4,
      0xb0,
      0xd6,
      0xb2,
      0xdc,
      0xe2,
      0x20,
      0x24,
      0x2c,
      0x84,
      0x82,
      0x88,
      0x70,
      0xc0,
      0x61,
      0xca,
      0x10,
      0x12,
      0x14,
    ),
    p1: fc.nat(255),
    p2: fc.nat(255),
    data: fc.uint8Array({ maxLength: 40 }),
    le: fc.option(fc.nat(255)),
  })
  .map(({ cla, ins, p1, p2, data, le }) => {
    const out = [cla, ins, p1, p2];
    if (data.length > 0) out.push(data.length, ...data);
    if (le !== null) out.push(le);
    return Uint8Array.from(out);
  });
const command = fc.oneof(
  { arbitrary: randomBytes, weight: 1 },
  { arbitrary: mutated, weight: 3 },
  { arbitrary: structured, weight: 2 },
);

const VALID_SW1 = new Set([
  0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x90,
]);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const ids = new WeakMap<object, number>();
let nextId = 1;
const idOf = (o: object | undefined) => {
  if (!o) return '-';
  if (!ids.has(o)) ids.set(o, nextId++);
  return String(ids.get(o));
};
/** Every channel's open state, current DF, EF, record pointer and applet, as one string. */
function selectionOf(card: Iso7816Os): string {
  let out = '';
  for (let n = 0; n < card.maxChannels; n++) {
    const ch = card.channel(n);
    out += ch
      ? `${n}:${idOf(ch)}/${idOf(ch.currentDf)}/${idOf(ch.currentEf)}/${ch.recordPointer ?? '-'}/${idOf(ch.applet)};`
      : `${n}:closed;`;
  }
  return out;
}

function makeCard(protocol: 'T=0' | 'T=1', withApplet: boolean) {
  const config: IsoCardConfig = { ...sampleIsoConfig(protocol), dataSize: 2048, journalSize: 1024 };
  if (!withApplet) return sampleCard(protocol, config as unknown as Record<string, unknown>);
  const errors: unknown[] = [];
  config.channels = 8;
  const card = buildIsoCard(
    config,
    undefined,
    { cipher, rng: new SeededRng('fuzz'), logger: { error: (m, e) => errors.push(e ?? m) } },
    [fuzzApplet()],
  );
  card.powerUp();
  return { card, errors };
}

function run(protocol: 'T=0' | 'T=1', runs: number, perRun: number, withApplet = false) {
  let sent = 0;
  const stats = { ok: 0, writes: 0 };
  fc.assert(
    fc.property(fc.array(command, { minLength: perRun, maxLength: perRun }), (cmds) => {
      const { card, errors } = makeCard(protocol, withApplet);
      let before = card.store.image();
      for (const c of cmds) {
        const selection = selectionOf(card);
        const r = card.transmit(c);
        sent++;
        // Plain checks in the hot loop (expect() per command would dominate the run time).
        if (r.length < 2) throw new Error(`no status word for ${hex(c)}`);
        const sw1 = r[r.length - 2]!;
        const sw2 = r[r.length - 1]!;
        if (!VALID_SW1.has(sw1) || (sw1 === 0x90 && sw2 !== 0))
          throw new Error(`invalid SW ${hex(r.subarray(r.length - 2))} for ${hex(c)}`);
        if (errors.length > 0) throw new Error(`6F00 for ${hex(c)}: ${String(errors[0])}`);
        // A refused command (67xx-6Exx) leaves every channel's selection as it was.
        if (sw1 >= 0x67 && sw1 <= 0x6e && sw1 !== 0x6c && selectionOf(card) !== selection)
          throw new Error(`selection changed by refused ${hex(c)} → ${hex(r)}`);
        if (sw1 === 0x90) stats.ok++;
        const after = card.store.image();
        if (Buffer.compare(before, after) !== 0) {
          const ins = c[1]!;
          const okWrite =
            WRITERS.has(ins) && (sw1 === 0x90 || sw1 === 0x61 || (sw1 === 0x63 && ins !== 0xd6));
          if (!okWrite) throw new Error(`image changed by ${hex(c)} → ${hex(r)}`);
          stats.writes++;
          before = after;
        }
      }
    }),
    { numRuns: runs, seed: 7 },
  );
  return { sent, ...stats };
}

describe('random APDUs (fast-check)', () => {
  it('T=1 card with an applet and 8 channels: 20,000 commands', () => {
    const r = run('T=1', 200, 100, true);
    expect(r.sent).toBe(20_000);
    expect(r.ok).toBeGreaterThan(500);
    expect(r.writes).toBeGreaterThan(100);
  });
  it('T=1 card: 60,000 commands', () => {
    const r = run('T=1', 600, 100);
    expect(r.sent).toBe(60_000);
    // The mix reaches the file system: many commands succeed and some of them write.
    expect(r.ok).toBeGreaterThan(2_000);
    expect(r.writes).toBeGreaterThan(500);
  });
  it('T=0 card: 40,000 commands', () => {
    const r = run('T=0', 400, 100);
    expect(r.sent).toBe(40_000);
    expect(r.ok).toBeGreaterThan(1_000);
    expect(r.writes).toBeGreaterThan(300);
  });
});
