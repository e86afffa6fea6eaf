/**
 * Card commands over the power line, end to end (issue 17): the gas utility's signed REMOTE LOAD →
 * host (HostProtocol.cardCommands, H = 57) → lossy power line (loss, duplication, re-ordering, bit
 * errors) → the electricity meter's modem → its SAM (S2h, Ks) → the card slot's queue → the
 * subscriber's card at its next insertion → the card's answer back the same way. The meter loses
 * power (volatile session gone, saved state reloaded) between any two steps. The load reaches the
 * card exactly once and its receipt reaches the host, verifiable under K_remote; the offline
 * reading a gas meter left on the card reaches the host too, and the utility's CLEAR READINGS
 * clears exactly it. Also: the SAM's authentication of H = 57, and the simulated terminal serving
 * the same protocol for host tests at scale.
 */
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import {
  signClearReadings,
  signRemoteLoad,
  verifyOfflineReading,
  verifyRemoteReceipt,
  type RemoteLoadFields,
} from '../../card/applets/purse/offline.js';
import { MeterModem, type ModemEvent } from '../../meter/modem/MeterModem.js';
import { HostProtocol, type SessionTrace } from '../../host/protocol/HostProtocol.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import type { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import type { CardChannel } from '../../reader/CardChannel.js';
import { LocalService } from '../../host/network/LocalService.js';
import { PowerLineChannel } from '../../host/network/PowerLineChannel.js';
import { LinkTimeoutError } from '../../host/network/errors.js';
import { SimulatedMeterTerminal } from '../../host/sim/SimulatedMeterTerminal.js';
import { ProtocolError } from '../../protocol/errors.js';
import { REFUSE_BAD_SIGNATURE, H_CARD_COMMANDS, MAX_M } from '../../protocol/constants.js';
import { decodeMessage, encodeMessage } from '../../protocol/messages.js';
import type { Terminal } from '../../protocol/Terminal.js';
import {
  CARD_COMMAND_CAPACITY,
  OUTCOME_CARD,
  OUTCOME_REFUSED,
  OUTCOME_WAITING,
  OFFLINE_READING_LENGTH,
  REFUSED_FULL,
  encodeCardCommandsRequest,
  type CardAnswer,
  type CardCommand,
  type OfflineReadingWire,
} from '../../protocol/cardCommands.js';
import { cipher, demoIssuer, newMeter, purseBalance, subscriber } from './cardWorld.js';

const meterId = fromHex('00C0DE');
const CSN = fromHex('4D50000000000001');
const GAS = 2;
const SELLER = fromHex('47415331');

const fieldsOf = (seq: number, amount: number): RemoteLoadFields => ({
  csn: CSN,
  purse: GAS,
  seq,
  amount,
  sellerId: SELLER,
  dateTime: fromHex('261123100000'),
});

async function world(seed: string) {
  const issuer = demoIssuer('test');
  const cm = await newMeter({ issuer, meterId, svmMax: 1_000_000, seed });
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const host = new HostProtocol(cipher, new SeededRng(`${seed}-host`), () => ring);
  const ref = { id: meterId, keyVersion: ring.current! };
  const events: ModemEvent[] = [];
  // the modem behind the line; a power loss replaces it (its session is volatile)
  let modem = new MeterModem(cm);
  modem.onEvent((e) => events.push(e));
  const endpoint = { handle: (b: Uint8Array) => modem.handle(b) };
  const powerLoss = () => {
    const saved = JSON.parse(JSON.stringify(cm.slot.saveState())) as Parameters<typeof cm.slot.loadState>[0];
    cm.slot.loadState(saved);
    modem = new MeterModem(cm);
    modem.onEvent((e) => events.push(e));
  };
  return { issuer, cm, ring, host, ref, events, endpoint, powerLoss, modem: () => modem };
}

/**
 * The host's side as the relay runs it: a command is sent in every message until its final answer
 * is stored; every kept entry is stored once by its seq (a repeat must be the same entry); the
 * next message acknowledges what was stored.
 */
class HostSide {
  ackBelow = 0;
  readonly outstanding = new Map<number, CardCommand>();
  readonly finals = new Map<number, CardAnswer>();
  readonly bySeq = new Map<number, string>();
  readonly readings = new Map<number, OfflineReadingWire>();
  readonly waiting = new Map<number, number>();
  answersStored = 0;
  constructor(
    readonly host: HostProtocol,
    readonly ref: { id: Uint8Array; keyVersion: number },
  ) {}
  send(c: CardCommand): void {
    this.outstanding.set(c.id, c);
  }
  async step(t: Terminal): Promise<boolean> {
    const a = await this.host
      .cardCommands(t, this.ref, {
        ackBelow: this.ackBelow,
        commands: [...this.outstanding.values()].sort((x, y) => x.id - y.id).slice(0, 16),
        forget: [],
      })
      .catch((e: unknown) => {
        if (e instanceof ProtocolError || e instanceof LinkTimeoutError) return undefined;
        throw e;
      });
    if (!a) return false;
    expect(a.id).toEqual(meterId);
    for (const x of a.answers) {
      if (x.outcome === OUTCOME_WAITING) this.waiting.set(x.id, x.sw);
      if (x.outcome !== OUTCOME_CARD) continue;
      const key = `${x.id}:${x.sw.toString(16)}:${toHex(x.data)}`;
      if (this.bySeq.has(x.seq)) expect(this.bySeq.get(x.seq)).toBe(key);
      else {
        this.bySeq.set(x.seq, key);
        expect(this.finals.has(x.id), `a second final answer for ${x.id}`).toBe(false);
        this.finals.set(x.id, x);
        this.answersStored++;
      }
      this.outstanding.delete(x.id);
      this.waiting.delete(x.id);
    }
    for (const r of a.readings) {
      const prev = this.readings.get(r.seq);
      if (prev) expect(toHex(prev.record)).toBe(toHex(r.record));
      else this.readings.set(r.seq, r);
    }
    this.ackBelow = Math.max(this.ackBelow, a.next);
    return true;
  }
}

function lossyLine(
  seed: string,
  endpoint: { handle: (b: Uint8Array) => Promise<Uint8Array> },
  keyVersion: number,
) {
  const ls = new LocalService(
    0,
    1,
    new PowerLineChannel(new SeededRng(seed), {
      loss: 0.2,
      duplicate: 0.2,
      corrupt: 0.05,
      latencyMs: [20, 300],
    }),
  );
  ls.attach(1, meterId, endpoint, keyVersion);
  return ls;
}

describe('H = 57 over a lossy power line, with power losses at the meter', () => {
  for (const seed of ['s1', 's2', 's3', 's4'])
    it(`a gas remote load reaches the card exactly once and its receipt reaches the host (${seed})`, async () => {
      const w = await world(`cc-${seed}`);
      const card = subscriber(w.issuer, { csn: CSN, balance: 1_000, seed });
      const ls = lossyLine(`line-${seed}`, w.endpoint, w.ref.keyVersion);
      const t = ls.terminal(1);
      const hs = new HostSide(w.host, w.ref);
      const loads = [fieldsOf(1, 700), fieldsOf(2, 50)];
      // seq 2 reaches the relay first (relay id 1: the utility submitted seq 1 late): the card
      // refuses it (9409) until seq 1 is there, then takes both in one insertion
      hs.send({ id: 1, csn: CSN, ins: 0x56, p2: GAS, data: signRemoteLoad(w.issuer, loads[1]!) });
      const rng = new SeededRng(`steps-${seed}`);
      let inserted = 0;
      let lost = 0;
      let lostHolding = 0;
      for (let step = 0; step < 400; step++) {
        if (step === 10)
          hs.send({ id: 2, csn: CSN, ins: 0x56, p2: GAS, data: signRemoteLoad(w.issuer, loads[0]!) });
        const r = rng.bytes(1)[0]! / 256;
        if (r < 0.55) await hs.step(t);
        else if (r < 0.75) {
          const o = await w.cm.slot.insert(card.os);
          w.cm.slot.remove();
          expect(o.csn).toBe(toHex(CSN));
          inserted++;
        } else {
          const c = w.cm.slot.commands;
          if (c.size + c.outboxSize > 0) lostHolding++;
          w.powerLoss();
          lost++;
        }
        if (step > 40 && hs.finals.size === 2 && w.cm.slot.commands.outboxSize === 0) break;
      }
      expect(inserted).toBeGreaterThan(0);
      expect(lost).toBeGreaterThan(0);
      expect(lostHolding, 'a power loss while the meter held a command or an answer').toBeGreaterThan(0);
      expect(hs.finals.size).toBe(2);
      expect(w.cm.slot.commands.size).toBe(0);
      expect(w.cm.slot.commands.outboxSize).toBe(0);
      // exactly once on the card, whatever the line and the power did
      expect(purseBalance(card, GAS)).toBe(1_750);
      for (const [id, f] of [
        [2, loads[0]!],
        [1, loads[1]!],
      ] as const) {
        const a = hs.finals.get(id)!;
        expect(a.sw).toBe(0x9000);
        expect(verifyRemoteReceipt(w.issuer, f, a.data.subarray(7, 15))).toBe(true);
      }
      expect(w.events.some((e) => e.kind === 'card-commands')).toBe(true);
      expect(ls.stats.framesRejected + ls.stats.lateOrForeign + ls.stats.timeouts).toBeGreaterThan(0);
    });
});

describe('offline readings carried home', () => {
  it('a gas meter’s signed reading on the card reaches the host through the electricity meter; CLEAR READINGS clears exactly it', async () => {
    const w = await world('readings');
    const card = subscriber(w.issuer, { csn: CSN, balance: 1_000, seed: 'readings' });
    const gas = await newMeter({
      meter: { commodity: 'gas' },
      utility: GAS,
      seed: 'gasmeter',
      meterId: fromHex('0A0B0C'),
    });
    const g = await gas.slot.insert(card.os);
    gas.slot.remove();
    expect(g.accepted).toBe(true);
    const t = w.modem();
    const hs = new HostSide(w.host, w.ref);
    await w.cm.slot.insert(card.os);
    w.cm.slot.remove();
    await hs.step(t);
    expect(hs.readings.size).toBe(1);
    const r = [...hs.readings.values()][0]!;
    expect(r.csn).toEqual(CSN);
    expect(r.purse).toBe(GAS);
    expect(verifyOfflineReading(w.issuer, CSN, r.record)).toBe(true);
    // a forged reading does not verify
    const forged = r.record.slice();
    forged[18] = forged[18]! ^ 1;
    expect(verifyOfflineReading(w.issuer, CSN, forged)).toBe(false);
    // the utility clears what it stored
    hs.send({
      id: 5,
      csn: CSN,
      ins: 0x5a,
      p2: GAS,
      data: signClearReadings(w.issuer, CSN, GAS, r.record.subarray(135, 143)),
    });
    await hs.step(t);
    await w.cm.slot.insert(card.os);
    w.cm.slot.remove();
    await hs.step(t);
    expect(hs.finals.get(5)?.sw).toBe(0x9000);
    // the card holds no reading any more: the next insertion brings none
    await w.cm.slot.insert(card.os);
    w.cm.slot.remove();
    const before = hs.readings.size;
    await hs.step(t);
    expect(hs.readings.size).toBe(before);
    // the same CLEAR READINGS again (a new relay id): the record is not that reading any more: 6985
    hs.send({
      id: 6,
      csn: CSN,
      ins: 0x5a,
      p2: GAS,
      data: signClearReadings(w.issuer, CSN, GAS, r.record.subarray(135, 143)),
    });
    await hs.step(t);
    await w.cm.slot.insert(card.os);
    w.cm.slot.remove();
    await hs.step(t);
    expect(hs.finals.get(6)?.sw).toBe(0x6985);
  });
});

describe('the SAM and the modem', () => {
  it('a payload changed on the line is refused (S2h), nothing queued; a replayed COMMAND finds no session', async () => {
    const w = await world('sam');
    const modem = w.modem();
    let captured: Uint8Array | undefined;
    const tamper: Terminal = {
      init: (r1, r2, n) => modem.init(r1, r2, n),
      command: async (h, payload, s2h) => {
        const p = payload.slice();
        p[p.length - 2] = p[p.length - 2]! ^ 0x01; // one byte of the carried command
        captured = encodeMessage({ kind: 'command-request', h, payload, s2h });
        return modem.command(h, p, s2h);
      },
    };
    const c = { id: 1, csn: CSN, ins: 0x56, p2: GAS, data: signRemoteLoad(w.issuer, fieldsOf(1, 100)) };
    const err = await w.host
      .cardCommands(tamper, w.ref, { ackBelow: 0, commands: [c], forget: [] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).reason).toBe(REFUSE_BAD_SIGNATURE);
    expect(w.cm.slot.commands.size).toBe(0);
    // the untouched command, replayed without a session of its own
    const answer = decodeMessage(await modem.handle(captured!));
    expect(answer.kind).toBe('refusal');
    expect(w.cm.slot.commands.size).toBe(0);
    // sent properly it is queued, and answered with the SAM's balance and meter id
    const a = await w.host.cardCommands(modem, w.ref, { ackBelow: 0, commands: [c], forget: [] });
    expect(a.queued).toBe(1);
    expect(a.id).toEqual(meterId);
    expect(w.events.at(-1)).toMatchObject({ kind: 'card-commands', received: 1, queued: 1 });
  });

  it('the meter cannot change the utility’s bytes: a load altered in the queue is refused by the card (6300)', async () => {
    const w = await world('alter');
    const card = subscriber(w.issuer, { csn: CSN, balance: 1_000, seed: 'alter' });
    const data = signRemoteLoad(w.issuer, fieldsOf(1, 100));
    data[7] = 0xff; // amount 100 → 0x…ff
    await w.host.cardCommands(w.modem(), w.ref, {
      ackBelow: 0,
      commands: [{ id: 1, csn: CSN, ins: 0x56, p2: GAS, data }],
      forget: [],
    });
    await w.cm.slot.insert(card.os);
    w.cm.slot.remove();
    const a = await w.host.cardCommands(w.modem(), w.ref, { ackBelow: 0, commands: [], forget: [] });
    expect(a.answers.map((x) => [x.id, x.sw])).toEqual([[1, 0x6300]]);
    expect(purseBalance(card, GAS)).toBe(1_000);
  });
});

describe('the largest answer', () => {
  it('8 readings and 24 answers of 64 bytes pass the SAM (chained HOST FINISH, M ≤ 8192); the rest comes next', async () => {
    const w = await world('big');
    const q = w.cm.slot.commands;
    const stub = (answer: (c: CommandApdu) => ResponseApdu): CardChannel => ({
      readerName: 'stub',
      atr: new Uint8Array(0),
      protocol: 'T=1',
      transmit: async (c) => answer(c),
      reset: async () => new Uint8Array(0),
      disconnect: async () => {},
    });
    for (let i = 0; i < 8; i++) {
      const csn = fromHex(`4D50000000001${i.toString(16).padStart(3, '0')}`);
      const record = new Uint8Array(OFFLINE_READING_LENGTH).fill(i + 1);
      record[0] = 0x01;
      record[4] = GAS;
      await q.deliver(
        stub(() => new ResponseApdu(record, 0x9000)),
        csn,
        { purses: [1, GAS], own: 1 },
      );
    }
    const cmd = (id: number): CardCommand => ({
      id,
      csn: CSN,
      ins: 0x56,
      p2: id <= 16 ? GAS : 3, // at most 16 of one purse (CARD_COMMAND_PURSE_QUOTA)
      data: new Uint8Array(26).fill(id),
    });
    q.serve({ ackBelow: 0, commands: Array.from({ length: 16 }, (_, i) => cmd(i + 1)), forget: [] });
    q.serve({ ackBelow: 0, commands: Array.from({ length: 9 }, (_, i) => cmd(i + 17)), forget: [] });
    await q.deliver(
      stub(() => new ResponseApdu(new Uint8Array(80).fill(0xaa), 0x9000)),
      CSN,
    );
    expect(q.outboxSize).toBe(8 + 25);
    const trace: SessionTrace = {};
    const a = await w.host.cardCommands(w.modem(), w.ref, { ackBelow: 0, commands: [], forget: [] }, trace);
    expect(a.readings).toHaveLength(8);
    expect(a.answers).toHaveLength(24);
    expect(a.answers.every((x) => x.data.length === 64)).toBe(true); // 80 bytes cut to 64
    expect(a.more).toBe(true);
    expect(trace.m!.length).toBe(3104); // body 3090 ‖ Balance ‖ ID, padded: the largest M of H = 57
    expect(trace.m!.length).toBeLessThanOrEqual(MAX_M);
    const b = await w.host.cardCommands(w.modem(), w.ref, { ackBelow: a.next, commands: [], forget: [] });
    expect(b.readings).toHaveLength(0);
    expect(b.answers.map((x) => x.id)).toEqual([25]);
    expect(b.more).toBe(false);
  });
});

describe('the simulated meter terminal serves H = 57 (host tests at scale)', () => {
  it('stores once per id, refuses FULL past the capacity, answers what a card answered until acknowledged, survives a restore', async () => {
    const issuer = demoIssuer('test');
    const ring = HostKeyRing.of(issuer.utility(1).host);
    const n = ring.current!;
    const kt = ring.terminalKey(cipher, n, meterId);
    const sim = new SimulatedMeterTerminal(cipher, new SeededRng('sim'), {
      id: meterId,
      terminalKeys: new Map([[n, kt]]),
    });
    const host = new HostProtocol(cipher, new SeededRng('sim-host'), () => ring);
    const ref = { id: meterId, keyVersion: n };
    const t = sim.asTerminal();
    const cmd = (id: number): CardCommand => ({
      id,
      csn: CSN,
      ins: 0x56,
      p2: GAS,
      data: new Uint8Array(26).fill(id),
    });
    for (let i = 0; i < CARD_COMMAND_CAPACITY; i += 16)
      await host.cardCommands(t, ref, {
        ackBelow: 0,
        commands: Array.from({ length: 16 }, (_, k) => cmd(1 + i + k)),
        forget: [],
      });
    const full = await host.cardCommands(t, ref, { ackBelow: 0, commands: [cmd(1), cmd(100)], forget: [] });
    expect(full.queued).toBe(CARD_COMMAND_CAPACITY);
    expect(full.answers.map((a) => [a.id, a.outcome, a.sw])).toEqual([[100, OUTCOME_REFUSED, REFUSED_FULL]]);
    sim.cardAnswered(3, 0x9000, Uint8Array.of(1, 2, 3));
    sim.cardAnswered(4, 0x9409, new Uint8Array(0), false);
    const saved = sim.exportState();
    const a = await host.cardCommands(t, ref, { ackBelow: 0, commands: [], forget: [5] });
    expect(a.queued).toBe(CARD_COMMAND_CAPACITY - 2);
    expect(a.answers.map((x) => [x.seq, x.id, x.outcome, x.sw])).toEqual([
      [1, 3, OUTCOME_CARD, 0x9000],
      [0, 4, OUTCOME_WAITING, 0x9409],
    ]);
    sim.restoreState(saved);
    expect(sim.queuedCardCommands().map((c) => c.id)).toContain(5);
    const b = await host.cardCommands(t, ref, { ackBelow: a.next, commands: [cmd(3)], forget: [] });
    expect(b.answers.filter((x) => x.outcome === OUTCOME_CARD)).toEqual([]);
    expect(b.queued).toBe(CARD_COMMAND_CAPACITY - 1); // id 3 finished: not queued again
  });

  it('a payload the meter cannot decode is refused (06), not half-applied', async () => {
    const w = await world('bad');
    const modem = w.modem();
    const raw = encodeCardCommandsRequest({ ackBelow: 0, commands: [], forget: [] });
    const bad = Uint8Array.of(...raw.subarray(0, 4), 1); // one command announced, none there
    const err = await w.host.session(modem, w.ref, H_CARD_COMMANDS, () => bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).reason).toBe(6);
    expect(w.cm.slot.commands.size).toBe(0);
  });
});
