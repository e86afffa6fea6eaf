/**
 * Security hole 6 — "A meter restart can lose a token answer".
 *
 * The audit: power fails while SVM TOKEN REQUEST is in flight; the SVM paid out 100 units but the
 * answer never reached the meter. The meter's journal of that request lived in RAM only, so a meter
 * restored from its NVM image (`Meter.snapshot()`) on fresh module channels could not recover the
 * 100 units: they were gone from the SVM and never reached the meter.
 *
 * Now the journal and the units owed to the meter are in the image (`snapshot.register`), and the
 * meter acknowledges each grant in the turn it books it. These tests cut the mains — snapshot, every
 * module channel dead, SAM and SVM power-cycled — at every APDU boundary and at every await point of a
 * token request, restart a meter from the image on a fresh `ModuleLink` to the same SAM and SVM,
 * and check that SVM + units the meter drew + units owed to it is conserved, and that draining the
 * SVM delivers every unit exactly once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { interceptChannel } from '../reader/interceptChannel.js';
import { INS_READ_STATE, INS_TOKEN_AUTH, INS_TOKEN_REQUEST } from '../../card/applets/constants.js';
import { CardChannelError, type CardChannel } from '../../reader/CardChannel.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import type { CreditRegister } from '../../meter/CreditRegister.js';
import { MeterStateError } from '../../meter/errors.js';
import { Meter, SNAPSHOT_VERSION, type MeterSnapshot } from '../../meter/Meter.js';
import { createMeterOnModules, type CardMeter } from '../../meter/cardslot/createCardMeter.js';
import type { SimulatedCardMeter } from '../../meter/cardslot/createCardMeter.js';
import { ModuleCreditRegister } from '../../meter/cardslot/ModuleCreditRegister.js';
import { ModuleLink, type ChannelRole } from '../../meter/cardslot/ModuleLink.js';
import { newMeter, svmView } from '../meter/cardWorld.js';

/** Units in the SVM at personalisation: all the credit there is in each world. */
const TOTAL = 500;
/** 100 Wh at the cardWorld tariff (flat 1000 per kWh): 100 units, one whole token request. */
const ONE_REQUEST = 100_000;

type Phase = 'before' | 'after';

/**
 * The mains of one meter: every module channel goes through `wrap`; `hook` sees each APDU just
 * before it reaches its module and just after the module answered. Once `down`, no APDU reaches a
 * module and no answer reaches the meter.
 */
class Mains {
  down = false;
  hook: (c: CommandApdu, role: ChannelRole, phase: Phase) => void = () => {};

  wrap = (inner: CardChannel, role: ChannelRole): CardChannel => {
    const lost = () => new CardChannelError('mains lost', inner.readerName);
    return interceptChannel(inner, async (c, next) => {
      if (this.down) throw lost();
      this.hook(c, role, 'before');
      if (this.down) throw lost(); // the command never left the meter
      const r = await next(c);
      if (this.down) throw lost();
      this.hook(c, role, 'after');
      if (this.down) throw lost(); // the module did it; its answer is lost
      return r;
    });
  };
}

async function world(): Promise<{ cm: SimulatedCardMeter; mains: Mains }> {
  const mains = new Mains();
  const cm = await newMeter({ svmBalance: TOTAL, wrap: mains.wrap });
  return { cm, mains };
}

/**
 * The mains go: the meter's NVM image is what it is at this instant (through JSON, as stored);
 * every channel of the old meter is dead from now on and the SAM and SVM lose power.
 */
function powerCut(cm: SimulatedCardMeter, mains: Mains): MeterSnapshot {
  const image = JSON.parse(JSON.stringify(cm.meter.snapshot())) as MeterSnapshot;
  mains.down = true;
  for (const r of [cm.link.samReader, cm.link.svmReader]) {
    const v = r as VirtualReader;
    const card = v.remove();
    if (card) v.insert(card);
  }
  return image;
}

/** Mains back: a new meter core restored from the image, on a fresh link to the same SAM and SVM. */
function restart(cm: SimulatedCardMeter, image: MeterSnapshot): Promise<CardMeter> {
  return createMeterOnModules({
    snapshot: image,
    samReader: cm.link.samReader,
    svmReader: cm.link.svmReader,
    cardReader: new VirtualReader('card slot after restart'),
    ...(cm.link.core ? { core: cm.link.core } : {}),
  });
}

const svmBalance = (cm: SimulatedCardMeter): number => svmView(cm).balance;

/** SVM + units the (restarted) meter drew + units its register still owes it. */
const held = (cm: SimulatedCardMeter, r: CardMeter): number =>
  svmBalance(cm) + r.meter.exchanger.drawn + r.register.recovered;

/** Meters until the SVM is empty and nothing is owed: every unit must have been drawn exactly once. */
async function drain(cm: SimulatedCardMeter, r: CardMeter): Promise<void> {
  for (let i = 0; i < 10 && (svmBalance(cm) > 0 || r.register.recovered > 0); i++)
    await r.meter.advance(r.meter.now + 60, ONE_REQUEST);
  expect(svmBalance(cm)).toBe(0);
  expect(r.register.recovered).toBe(0);
  expect(r.meter.exchanger.drawn).toBe(TOTAL);
}

function registerState(image: MeterSnapshot): { journal: unknown; recovered: number } {
  return image['register'] as unknown as { journal: unknown; recovered: number };
}

describe('attack: a meter restart loses a token answer (security hole 6)', () => {
  /** A world cut just after the SVM answered TOKEN REQUEST: the answer is lost. */
  async function lostAnswer(): Promise<{ cm: SimulatedCardMeter; image: MeterSnapshot }> {
    const { cm, mains } = await world();
    expect(svmBalance(cm)).toBe(TOTAL - 100); // the power-up fill of the tank
    let image: MeterSnapshot | undefined;
    mains.hook = (c, role, phase) => {
      if (role === 'svm' && c.ins === INS_TOKEN_REQUEST && phase === 'after') image = powerCut(cm, mains);
    };
    await cm.meter.advance(cm.meter.now + 60, ONE_REQUEST); // empties the tank: a token request
    expect(image).toBeDefined();
    // The audit's situation: the SVM paid out, the meter has not seen it.
    expect(svmBalance(cm)).toBe(TOTAL - 200);
    expect(image!['exchanger']).toMatchObject({ drawn: 100 });
    return { cm, image: image! };
  }

  it('token answer lost, meter restored from its NVM image on fresh modules: the 100 units the SVM paid arrive once', async () => {
    // What the audit found: an image without the register's journal never gets them back.
    const audit = await lostAnswer();
    const lossy = await restart(audit.cm, { ...audit.image, register: null });
    expect(held(audit.cm, lossy)).toBe(TOTAL - 100);

    // The same world (same seeds), restarted from the image as the meter now writes it.
    const { cm, image } = await lostAnswer();
    expect(registerState(image)).toEqual({
      journal: { counter: expect.any(Number), balanceBefore: TOTAL - 100 },
      recovered: 0,
    });
    const r = await restart(cm, image);
    expect(held(cm, r)).toBe(TOTAL);
    // Settled at power-up, handed out with the next grant: 100 before + 100 recovered + 100 new.
    expect(r.meter.exchanger.drawn).toBe(300);
    expect(svmBalance(cm)).toBe(TOTAL - 300);
    await drain(cm, r);
  });

  it('replaying a stale NVM image does not hand the recovered units out a second time', async () => {
    const { cm, image } = await lostAnswer();
    const first = await restart(cm, image);
    expect(first.meter.exchanger.drawn).toBe(300);
    // The same image again: its journal names an SVM counter that has moved on, so nothing is
    // recovered; the replayed meter only gets what it asks for now.
    const again = await restart(cm, image);
    expect(again.register.recovered).toBe(0);
    expect(again.meter.exchanger.drawn).toBe(200); // 100 in the image + 100 new, not + 100 recovered
    expect(svmBalance(cm) + first.meter.exchanger.drawn + (again.meter.exchanger.drawn - 100)).toBe(TOTAL);
  });

  for (const phase of ['before', 'after'] as const) {
    const what =
      phase === 'before' ? 'before it reaches its module' : 'after its module answered (answer lost)';
    it(`mains lost at every APDU of a token request, ${what}: restart conserves SVM + meter, every unit drawn once`, async () => {
      // The APDUs of one service with a token request, in order.
      const probe = await world();
      const seen: string[] = [];
      probe.mains.hook = (c, role, p) => {
        if (p === 'before') seen.push(`${role}:${c.ins.toString(16)}`);
      };
      await probe.cm.meter.advance(probe.cm.meter.now + 60, ONE_REQUEST);
      expect(seen).toEqual(
        expect.arrayContaining([
          `svm:${INS_READ_STATE.toString(16)}`,
          `sam:${INS_TOKEN_AUTH.toString(16)}`,
          `svm:${INS_TOKEN_REQUEST.toString(16)}`,
        ]),
      );
      const journals = new Set<string>();
      for (let k = 0; k < seen.length; k++) {
        const { cm, mains } = await world();
        let image: MeterSnapshot | undefined;
        let n = 0;
        mains.hook = (_c, _role, p) => {
          if (p === phase && n++ === k) image = powerCut(cm, mains);
        };
        await cm.meter.advance(cm.meter.now + 60, ONE_REQUEST);
        expect(image, `cut at APDU ${k} (${seen[k]})`).toBeDefined();
        const st = registerState(image!);
        journals.add(`${seen[k]} journal=${st.journal === null ? 'no' : 'yes'}`);
        const r = await restart(cm, image!);
        expect(held(cm, r), `cut ${phase} APDU ${k} (${seen[k]})`).toBe(TOTAL);
        await drain(cm, r);
      }
      // The journal is in the image from before TOKEN REQUEST leaves the meter.
      expect(journals).toContain(`svm:${INS_TOKEN_REQUEST.toString(16)} journal=yes`);
    });
  }

  it('mains lost at every await point of a token request (down to the microtask): restart conserves, every unit drawn once', async () => {
    /** Runs the token request; at microtask `cutAt` cuts the mains. @returns the image, if cut. */
    const run = async (cutAt: number) => {
      const { cm, mains } = await world();
      let finished = false;
      const work = cm.meter.advance(cm.meter.now + 60, ONE_REQUEST).finally(() => {
        finished = true;
      });
      let image: MeterSnapshot | undefined;
      let ticks = 0;
      for (; !finished; ticks++) {
        if (ticks === cutAt) {
          image = powerCut(cm, mains);
          break;
        }
        await Promise.resolve();
      }
      await work;
      return { cm, image, ticks };
    };
    const { ticks: length } = await run(Number.POSITIVE_INFINITY);
    expect(length).toBeGreaterThan(20);
    const windows = { journal: 0, owed: 0, booked: 0 };
    for (let t = 0; t < length; t++) {
      const { cm, image } = await run(t);
      expect(image, `cut at microtask ${t}`).toBeDefined();
      const st = registerState(image!);
      const drawn = (image!['exchanger'] as { drawn: number }).drawn;
      if (st.journal !== null) windows.journal++;
      if (st.recovered > 0) windows.owed++;
      if (drawn > 100) windows.booked++;
      const r = await restart(cm, image!);
      expect(held(cm, r), `cut at microtask ${t}`).toBe(TOTAL);
      await drain(cm, r);
    }
    // The sweep went through every window: TOKEN REQUEST in flight (journal), answer on its way
    // to the exchanger (owed, not yet acknowledged), and the grant booked.
    expect(windows.journal).toBeGreaterThan(0);
    expect(windows.owed).toBeGreaterThan(0);
    expect(windows.booked).toBeGreaterThan(0);
  });
});

describe('attack: a damaged or mismatched register state in the NVM image', () => {
  const fresh = () => {
    const link = new ModuleLink(new VirtualReader('SAM'), new VirtualReader('SVM'));
    return new ModuleCreditRegister(link);
  };
  async function imageWithJournal(): Promise<MeterSnapshot> {
    const { cm, mains } = await world();
    let image: MeterSnapshot | undefined;
    mains.hook = (c, role, phase) => {
      if (role === 'svm' && c.ins === INS_TOKEN_REQUEST && phase === 'before') image = powerCut(cm, mains);
    };
    await cm.meter.advance(cm.meter.now + 60, ONE_REQUEST);
    return image!;
  }
  /** Any JSON, and objects shaped almost like a register state. */
  const anything = fc.oneof(fc.integer({ min: -2, max: 2 ** 32 + 1 }), fc.jsonValue());
  const nearState = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        journal: fc.oneof(
          fc.constant(null),
          fc.jsonValue(),
          fc.record({ counter: anything, balanceBefore: anything }, { requiredKeys: [] }),
        ),
        recovered: anything,
      },
      { requiredKeys: [] },
    ),
  );
  const withRegister = (image: MeterSnapshot, register: unknown): MeterSnapshot =>
    ({ ...image, register }) as MeterSnapshot;

  it('a malformed register state is a RangeError naming the field, and the register is left untouched', async () => {
    const image = await imageWithJournal();
    expect(image['version']).toBe(SNAPSHOT_VERSION);
    const cases: [unknown, RegExp][] = [
      [5, /snapshot\.register must be null or an object/],
      [[], /snapshot\.register must be null or an object/],
      [{ recovered: 0 }, /snapshot\.register\.journal must be an object/],
      [{ journal: 'x', recovered: 0 }, /snapshot\.register\.journal must be an object/],
      [{ journal: { counter: 0, balanceBefore: 100 }, recovered: 0 }, /snapshot\.register\.journal\.counter/],
      [
        { journal: { counter: 2 ** 32, balanceBefore: 100 }, recovered: 0 },
        /snapshot\.register\.journal\.counter/,
      ],
      [
        { journal: { counter: 3, balanceBefore: -1 }, recovered: 0 },
        /snapshot\.register\.journal\.balanceBefore/,
      ],
      [{ journal: null, recovered: -100 }, /snapshot\.register\.recovered/],
      [{ journal: null, recovered: 1.5 }, /snapshot\.register\.recovered/],
      [{ journal: null }, /snapshot\.register\.recovered/],
    ];
    for (const [state, message] of cases) {
      const reg = fresh();
      expect(() => Meter.restore(withRegister(image, state), reg), JSON.stringify(state)).toThrow(RangeError);
      expect(() => Meter.restore(withRegister(image, state), reg)).toThrow(message);
      expect(reg.saveState()).toEqual({ journal: null, recovered: 0 });
    }
    const { register: _dropped, ...noKey } = image;
    expect(() => Meter.restore(noKey, fresh())).toThrow(/snapshot\.register/);
  });

  it('any JSON in place of the register state is refused with a typed error or loaded, never a crash', async () => {
    const image = await imageWithJournal();
    fc.assert(
      fc.property(nearState, (generated) => {
        // As stored: an image goes through JSON (which also turns -0 into 0).
        const state = JSON.parse(JSON.stringify(generated)) as unknown;
        const reg = fresh();
        try {
          Meter.restore(withRegister(image, state), reg);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          expect((e as Error).message).toMatch(/^snapshot\.register/);
          return;
        }
        // Loaded: it was a valid state, and the register holds exactly it.
        const s = (state ?? { journal: null, recovered: 0 }) as {
          journal: { counter: number; balanceBefore: number } | null;
          recovered: number;
        };
        const journal = s.journal && { counter: s.journal.counter, balanceBefore: s.journal.balanceBefore };
        expect(reg.saveState()).toEqual({ journal, recovered: s.recovered });
      }),
      { numRuns: 500 },
    );
  });

  it('an image whose register holds a journal is refused on a register that cannot load it (the journal would be lost)', async () => {
    const image = await imageWithJournal();
    expect(registerState(image).journal).not.toBeNull();
    const stateless: CreditRegister = {
      requestTokens: () => Promise.resolve(0),
      balance: () => Promise.resolve(0),
    };
    expect(() => Meter.restore(image, stateless)).toThrow(TypeError);
    expect(() => Meter.restore(image, stateless)).toThrow(/register must implement loadState/);
  });

  it('restoring over a register that already owes units is refused, not a silent overwrite', async () => {
    const image = await imageWithJournal();
    const reg = fresh();
    Meter.restore(image, reg);
    expect(() => Meter.restore(image, reg)).toThrow(MeterStateError);
  });

  it('a version-1 image (written before the register state existed) still loads; an unknown version is refused', async () => {
    const image = await imageWithJournal();
    const v1: MeterSnapshot = { ...image, version: 1 };
    delete v1['register'];
    const reg = fresh();
    const m = Meter.restore(v1, reg);
    expect(m.snapshot()['register']).toEqual({ journal: null, recovered: 0 });
    expect(() => Meter.restore({ ...image, version: SNAPSHOT_VERSION + 1 }, fresh())).toThrow(
      /snapshot\.version/,
    );
  });

  it('a restart needs either meter options or an image', async () => {
    await expect(
      createMeterOnModules({
        samReader: new VirtualReader('SAM'),
        svmReader: new VirtualReader('SVM'),
        cardReader: new VirtualReader('slot'),
      }),
    ).rejects.toThrow(TypeError);
  });
});
