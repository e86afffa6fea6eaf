/**
 * Attack: "tearing reveals the PIN". The attacker holds a card, can cut its power after any
 * low-level EEPROM write (a glitch on the contact, timed on the power trace) and guesses PINs.
 * If a wrong PIN is only counted by a write made after the comparison, a cut at that write
 * tells "wrong" without a try being spent, and the attacker walks through the PIN space with
 * every try left.
 *
 * The rule the cards must keep (docs/purse-spec.md §3.10; card/security/PinManager.ts): the try
 * is spent in a commit of its own before the comparison and given back, with whatever the right
 * PIN unlocks, in one second commit. So for a power cut at any write k, what the attacker can see
 * afterwards (the answer if one came, then VERIFY without data) is the same for a right and a
 * wrong candidate unless the wrong one has cost a try.
 *
 * Every sweep cuts at each write of the un-torn command (and one past the end), on a fresh card,
 * for the right and a wrong candidate, then powers up and looks — as the attacker, through the
 * APDUs, and as the auditor, through the persistent image.
 */
import { describe, expect, it } from 'vitest';
import { CardPowerLostError } from '../../card/os/CardOs.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { pinBlock } from '../../card/applets/purse/PurseApplet.js';
import { KeyStore } from '../../card/security/KeyStore.js';
import { PinManager } from '../../card/security/PinManager.js';
import { PersistentStore } from '../../card/store/PersistentStore.js';
import { StoreStateError } from '../../card/store/errors.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { A, poweredWorld } from '../applets/harness.js';
import { PIN_BAD, PIN_OK, PUK, sampleCard } from '../os/helpers.js';

const POWER_LOST = 'power lost';

/** The card as the attacker drives it, plus the auditor's view of its persistent memory. */
class Target {
  readonly #os: Iso7816Os;
  readonly #store: { readonly writeCount: number; armTear(k: number): void; disarmTear(): void };
  readonly #image: () => Uint8Array;
  readonly #select: string | undefined;

  constructor(
    os: Iso7816Os,
    store: { readonly writeCount: number; armTear(k: number): void; disarmTear(): void },
    image: () => Uint8Array,
    select?: string,
  ) {
    this.#os = os;
    this.#store = store;
    this.#image = image;
    this.#select = select;
  }

  get writes(): number {
    return this.#store.writeCount;
  }

  /** The status word (hex) of one command, or POWER_LOST when the cut came before the answer. */
  send(hex: string, cutAtWrite?: number): string {
    if (cutAtWrite !== undefined) this.#store.armTear(cutAtWrite);
    try {
      const r = this.#os.transmit(fromHex(hex));
      return toHex(r.subarray(r.length - 2));
    } catch (e) {
      if (e instanceof CardPowerLostError) return POWER_LOST;
      throw e;
    } finally {
      // A command with fewer writes than k leaves the tear armed: it must not hit a later one.
      this.#store.disarmTear();
    }
  }

  /** Power-up (recovers a torn commit) and the selection the application needs. */
  powerUp(): void {
    this.#os.powerUp();
    if (this.#select !== undefined) expect(this.send(this.#select)).toBe('9000');
  }

  /** The tries left on the counter `ask` reads, in a fresh session (no verified flag). */
  triesLeft(ask: string): number {
    this.#os.powerDown();
    this.powerUp();
    const sw = this.send(ask);
    if (sw === '6983') return 0;
    expect(sw).toMatch(/^63C[0-9A-F]$/);
    return parseInt(sw.slice(3), 16);
  }

  image(): string {
    return toHex(this.#image());
  }
}

/** One PIN-checking command of one card, in a given starting state. */
interface Scenario {
  /** A powered card in the starting state, the application selected. */
  fresh(): Target;
  /** The command APDU (hex) presenting `candidate` as the secret it checks. */
  command(candidate: string): string;
  right: string;
  wrong: string;
  /** VERIFY without data for the retry counter that the command spends. */
  ask: string;
}

/** What the attacker sees of one attempt, and what the auditor sees. */
interface Attempt {
  answer: string;
  /** VERIFY without data, asked straight after (after the power-up when cut). */
  asked: string;
  /** Tries left, asked in a fresh session. */
  tries: number;
  triesBefore: number;
  image: string;
  imageBefore: string;
  writes: number;
}

/** One attempt on `card` as it is: the command (cut at write `cutAtWrite`), power-up, the asks. */
function step(card: Target, s: Scenario, candidate: string, cutAtWrite?: number): Attempt {
  const triesBefore = card.triesLeft(s.ask);
  const imageBefore = card.image();
  const w0 = card.writes;
  const answer = card.send(s.command(candidate), cutAtWrite);
  const writes = card.writes - w0;
  if (answer === POWER_LOST) card.powerUp();
  const w1 = card.writes;
  const asked = card.send(s.ask);
  // Asking the tries left is not an oracle: it never writes (nor compares anything).
  expect(card.writes).toBe(w1);
  const tries = card.triesLeft(s.ask);
  return { answer, asked, tries, triesBefore, image: card.image(), imageBefore, writes };
}

/** One attempt on a fresh card in the scenario's starting state. */
const attempt = (s: Scenario, candidate: string, cutAtWrite?: number): Attempt =>
  step(s.fresh(), s, candidate, cutAtWrite);

const seen = (a: Attempt) => `${a.answer} / ${a.asked} / ${a.tries}`;

/**
 * Cuts the power at every write of the command for the right and the wrong candidate and checks
 * that no cut tells them apart without a try spent. Returns the number of writes swept.
 */
function sweep(s: Scenario): { right: number; wrong: number } {
  const ref = { right: attempt(s, s.right), wrong: attempt(s, s.wrong) };
  expect(ref.right.answer).toBe('9000');
  expect(ref.wrong.answer).not.toBe('9000');
  const start = ref.wrong.triesBefore;
  expect(start).toBeGreaterThan(0);
  expect(ref.wrong.tries).toBe(start - 1);
  // An un-torn wrong attempt: exactly one try spent, nothing else changed.
  const spentImage = ref.wrong.image;
  const kinds = { right: new Set<string>(), wrong: new Set<string>() };
  const last = Math.max(ref.right.writes, ref.wrong.writes) + 1;
  for (let k = 1; k <= last; k++) {
    const got = { right: attempt(s, s.right, k), wrong: attempt(s, s.wrong, k) };
    for (const which of ['right', 'wrong'] as const) {
      const a = got[which];
      const at = `${which} candidate, cut at write ${k}: ${seen(a)}`;
      expect(a.triesBefore, at).toBe(start);
      const cut = a.answer === POWER_LOST;
      const completed = a.image === ref[which].image;
      const spent = a.image === spentImage && a.tries === start - 1;
      const untouched = cut && a.image === a.imageBefore && a.tries === start;
      // A cut attempt either spent a try, or did the whole command, or never got to compare.
      expect(completed || spent || untouched, at).toBe(true);
      if (!cut) expect(a.answer, at).toBe(ref[which].answer);
      kinds[which].add(cut ? (spent ? 'cut, try spent' : 'cut, no try spent') : 'answered');
    }
    // What the attacker sees differs only when the wrong candidate has cost a try.
    if (seen(got.right) !== seen(got.wrong)) expect(got.wrong.tries, `cut at write ${k}`).toBe(start - 1);
    // A cut before the try is committed leaves both cards as they were: nothing was compared.
    if (got.wrong.answer === POWER_LOST && got.wrong.tries === start)
      expect(seen(got.right), `cut at write ${k}`).toBe(seen(got.wrong));
    // ... and that is the only way a cut right attempt may leave the card as it was without
    // having done the whole command (a try given back while the rest was lost would show it).
    const r = got.right;
    if (r.answer === POWER_LOST && r.image === r.imageBefore && r.image !== ref.right.image)
      expect(seen(got.wrong), `cut at write ${k}`).toBe(seen(r));
  }
  // The sweep reached every phase: before the spend, after it, and through the right PIN's commit.
  expect(kinds.wrong).toEqual(new Set(['cut, no try spent', 'cut, try spent', 'answered']));
  expect(kinds.right).toEqual(new Set(['cut, no try spent', 'cut, try spent', 'answered']));
  return { right: ref.right.writes, wrong: ref.wrong.writes };
}

/**
 * The original attack: cycle through PIN candidates, cut the power at write k of every attempt,
 * power up, ask the tries left. Returns what the attacker saw per candidate.
 */
function attackLoop(s: Scenario, candidates: readonly string[], k: number): Attempt[] {
  const card = s.fresh();
  return candidates.map((c) => step(card, s, c, k));
}

/**
 * Runs the attack loop for every cut point: the right candidate comes after `maxTries` wrong
 * ones, so the attacker must be blocked (6983) before reaching it or must have learnt nothing.
 */
function checkAttackLoop(s: Scenario, wrongs: readonly string[], maxTries: number): void {
  expect(wrongs.length).toBeGreaterThanOrEqual(maxTries);
  const candidates = [...wrongs, s.right];
  const writesOfRight = attempt(s, s.right).writes;
  for (let k = 1; k <= writesOfRight + 1; k++) {
    const run = attackLoop(s, candidates, k);
    const views = run.map(seen);
    const rightView = views.at(-1)!;
    const costly = run.filter((a) => a.tries < a.triesBefore).length;
    if (costly === 0) {
      // The cut came before any try was committed: no attempt was compared, so every candidate,
      // the right one included, looked the same and the card is as it was.
      expect(new Set(views).size, `cut at write ${k}: ${views.join(', ')}`).toBe(1);
      expect(
        run.every((a) => a.image === run[0]!.imageBefore),
        `cut at write ${k}`,
      ).toBe(true);
      expect(rightView, `cut at write ${k}`).not.toContain('9000');
    } else {
      // Every attempt that got compared cost a try: blocked after maxTries, before the right PIN.
      expect(costly, `cut at write ${k}: ${views.join(', ')}`).toBe(maxTries);
      expect(run[maxTries - 1]!.tries, `cut at write ${k}`).toBe(0);
      for (const a of run.slice(maxTries)) {
        expect(a.answer === '6983' || a.answer === POWER_LOST, `cut at write ${k}`).toBe(true);
        expect(a.asked, `cut at write ${k}`).toBe('6983');
      }
    }
  }
}

// ---- the purse card (card/applets/purse/PurseApplet.ts) ----

const PURSE_PIN = '1234';
const hexBlock = (pin: string) => toHex(pinBlock(pin));
const PURSE_ASK = toHex(A.verifyPin().encode());
const PURSE_SELECT = toHex(A.selectAid(AID_PURSE).encode());

/** A subscriber card with PIN 1234, after `wrongFirst` wrong VERIFYs (no tear). */
function purseCard(wrongFirst = 0): Target {
  const dev = poweredWorld({ pin: PURSE_PIN }).card;
  const t = new Target(dev.os, dev.store, () => dev.store.image(), PURSE_SELECT);
  for (let i = 0; i < wrongFirst; i++) expect(t.send(purseVerify(hexBlock('0000')))).toMatch(/^63C/);
  return t;
}

const purseVerify = (block: string) => toHex(A.verifyPin(fromHex(block)).encode());
const purseChange = (old: string) => toHex(A.changePin(fromHex(old), pinBlock('567890')).encode());

function purseScenario(command: (candidate: string) => string, wrongFirst: number): Scenario {
  return {
    fresh: () => purseCard(wrongFirst),
    command,
    right: hexBlock(PURSE_PIN),
    wrong: hexBlock('9999'),
    ask: PURSE_ASK,
  };
}

describe('purse card: tearing VERIFY / CHANGE REFERENCE DATA never reveals the PIN for free', () => {
  for (const wrongFirst of [0, 1, 2])
    it(`a power cut at every write of VERIFY never reveals whether the PIN was right without spending a try (${3 - wrongFirst} tries left)`, () => {
      const writes = sweep(purseScenario(purseVerify, wrongFirst));
      // The right PIN is two commits (spend, restore), a wrong one only the spend.
      expect(writes.right).toBeGreaterThan(writes.wrong);
    });

  for (const wrongFirst of [0, 2])
    it(`a power cut at every write of CHANGE REFERENCE DATA never reveals whether the old PIN was right without spending a try (${3 - wrongFirst} tries left)`, () => {
      sweep(purseScenario(purseChange, wrongFirst));
    });

  it('a power cut at every write of CHANGE REFERENCE DATA leaves the old PIN or the new one, never a try given back without the change', () => {
    const s = purseScenario(purseChange, 1);
    const done = attempt(s, s.right);
    for (let k = 1; k <= done.writes; k++) {
      const card = s.fresh();
      expect(card.send(s.command(s.right), k)).toBe(POWER_LOST);
      card.powerUp();
      const tries = card.triesLeft(s.ask);
      const changed = card.image() === done.image;
      // Changed: the tries are back to 3 with the new PIN. Not changed: a try is gone (2 -> 1)
      // unless the cut came before the spend; never "3 tries and the old PIN".
      if (changed) expect(tries).toBe(3);
      else expect(tries).toBeLessThanOrEqual(2);
      expect(card.send(purseVerify(changed ? hexBlock('567890') : s.right))).toBe('9000');
    }
  });

  it('an attacker who cycles through PIN candidates cutting the power at a write of each VERIFY (the original attack) is blocked (6983) after 3 attempts, never learning the PIN with tries left', () => {
    checkAttackLoop(purseScenario(purseVerify, 0), ['0000', '1111', '9999', '4321'].map(hexBlock), 3);
  });

  it('the original attack, cut at the first write of every VERIFY: the right PIN looks exactly like a wrong one', () => {
    const s = purseScenario(purseVerify, 0);
    const run = attackLoop(s, ['0000', '1111', '9999', '4321', PURSE_PIN].map(hexBlock), 1);
    // Before the fix a wrong PIN was cut ("power lost", 3 tries left) while the right one wrote
    // nothing and answered 9000 — the PIN with 3 of 3 tries left.
    for (const a of run) expect(seen(a)).toBe(`${POWER_LOST} / 63C3 / 3`);
  });

  it('CHANGE REFERENCE DATA used as an oracle (cut at each write, cycling old PINs) is blocked after 3 attempts', () => {
    checkAttackLoop(purseScenario(purseChange, 0), ['0000', '1111', '9999'].map(hexBlock), 3);
  });
});

// ---- the generic ISO OS PIN (card/security/PinManager.ts, SecurityCommands.ts) ----

const NEW_PIN = '35363738FFFFFFFF';
const PUK_BAD = '3939393939393939';

/** The iso-fs sample card (PIN 81 "1234", 3 tries; PUK 82, 10 tries) after `setup` commands. */
function isoCard(setup: readonly string[] = []): Target {
  const { card } = sampleCard();
  const t = new Target(card, card.store, () => card.store.image().subarray(0, card.store.dataSize));
  for (const c of setup) t.send(c);
  return t;
}

function isoVerifyScenario(wrongFirst: number): Scenario {
  return {
    fresh: () => isoCard(Array.from({ length: wrongFirst }, () => '0020008108' + PIN_BAD)),
    command: (candidate) => '0020008108' + candidate,
    right: PIN_OK,
    wrong: PIN_BAD,
    ask: '00200081',
  };
}

describe('ISO OS PIN: tearing VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER never reveals a secret for free', () => {
  for (const wrongFirst of [0, 2])
    it(`a power cut at every write of VERIFY never reveals whether the PIN was right without spending a try (${3 - wrongFirst} tries left)`, () => {
      const writes = sweep(isoVerifyScenario(wrongFirst));
      expect(writes.right).toBeGreaterThan(writes.wrong);
    });

  it('a power cut at every write of CHANGE REFERENCE DATA never reveals whether the old PIN was right without spending a try, nor gives the try back without the change', () => {
    sweep({
      fresh: () => isoCard(['0020008108' + PIN_BAD]),
      command: (old) => '0024008110' + old + NEW_PIN,
      right: PIN_OK,
      wrong: PIN_BAD,
      ask: '00200081',
    });
  });

  it('a power cut at every write of RESET RETRY COUNTER never reveals whether the PUK was right without spending a PUK try, nor gives it back without the reset', () => {
    const blocked = Array.from({ length: 3 }, () => '0020008108' + PIN_BAD);
    sweep({
      fresh: () => isoCard([...blocked, '002C018108' + PUK_BAD]),
      command: (puk) => '002C008110' + puk + NEW_PIN,
      right: PUK,
      wrong: PUK_BAD,
      ask: '00200082',
    });
  });

  it('an attacker who cycles through PIN candidates cutting the power at a write of each VERIFY is blocked (6983) after 3 attempts, never learning the PIN with tries left', () => {
    checkAttackLoop(isoVerifyScenario(0), ['30303030FFFFFFFF', '31313131FFFFFFFF', PIN_BAD], 3);
  });

  it('a PIN or key try is never folded into a transaction the caller left open, where it would not be durable before the comparison', () => {
    const store = new PersistentStore({ dataSize: 64 });
    const pins = new PinManager(store, [{ ref: 0x81, value: '31323334', tries: 3 }], true);
    const keys = new KeyStore([{ ref: 1, alg: 'tdes', key: '40'.repeat(16), tries: 3 }], store, true);
    const pin = pins.get(0x81);
    const key = keys.get(1);
    const image = toHex(store.image());
    store.begin();
    expect(() => pins.check(pin, fromHex(PIN_BAD))).toThrow(StoreStateError);
    expect(() => keys.spendTry(key)).toThrow(StoreStateError);
    store.abort();
    expect(toHex(store.image())).toBe(image);
    // Outside a transaction the same calls spend a try each.
    expect(pins.check(pin, fromHex(PIN_BAD))).toEqual({ ok: false, triesLeft: 2 });
    expect(keys.spendTry(key)).toBe(2);
  });
});
