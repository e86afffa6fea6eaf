// Issue 17 figures: remote loads (another utility's credit carried over the power line onto the
// card) — `npx tsx bench/run.ts offlineLoads`.
//
// 1. Loads per second through the meter slot: an in-process electricity meter (its SAM, SVM and
//    core, createCardMeter) holds REMOTE LOADs for one card in its card-command queue; each insertion
//    of the card delivers them (one APDU and one atomic card commit each) and then runs the slot's own
//    session (FCI, READ PURSE, the card's configuration, authentication, meter data, log read-back).
//    Reported for 16 loads per insertion (a queue's batch) and for 1 (the usual case: one purchase
//    between two insertions, so the figure is insertions per second).
// 2. End-to-end latency of a gas purchase over the lossy power-line model: the gas utility's server
//    sells (its database, signing), the host's relay sends H = 57 sessions over a PowerLineField with
//    10 % frame loss, 5 % duplicates, 1 % bit errors and 5–40 ms per frame (virtual time), rounds
//    until the meter holds the load; the card is inserted; rounds until the card's answer is stored
//    and the utility has booked the verified receipt. Latency = the power line's virtual time of both
//    phases (the subscriber's walk to the meter is not the system's), median and p99 over
//    OFFLINE_BENCH_N purchases (default 200), plus the process's wall time per purchase.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../card/crypto/index.js';
import { IssuerKeys } from '../card/applets/IssuerKeys.js';
import { makeSubscriberCard } from '../card/applets/profiles.js';
import { signRemoteLoad } from '../card/applets/purse/offline.js';
import { fromHex, toHex } from '../card/util/hex.js';
import { INS_REMOTE_LOAD } from '../card/applets/constants.js';
import { createCardMeter } from '../meter/cardslot/createCardMeter.js';
import { MeterModem } from '../meter/modem/MeterModem.js';
import { RtcTime } from '../protocol/RtcTime.js';
import { TariffTable } from '../protocol/TariffTable.js';
import { HostDb } from '../host/service/HostDb.js';
import { HostService } from '../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../host/service/PaymentGateway.js';
import { SimulatedField } from '../host/sim/SimulatedField.js';
import { HostProtocol } from '../host/protocol/HostProtocol.js';
import { PowerLineField } from '../host/network/PowerLineField.js';
import { RelayService } from '../host/relay/RelayService.js';
import { hostProtocolRelayLink } from '../host/relay/hostProtocolRelayLink.js';
import { InProcessRelayPort } from '../host/utility/RelayPort.js';
import { UtilityServer } from '../host/utility/UtilityServer.js';
import { UtilityDb } from '../host/utility/db/UtilityDb.js';

const cipher = new NodeCipherProvider();
const GAS = 2;
const CSN = fromHex('4D50000000000B01');
const NOW = fromHex('261123100000');
const SELLER = fromHex('47415331');
const START = RtcTime.of(2026, 11, 23, 10, 0).seconds;

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

function card(issuer: IssuerKeys, csn = CSN) {
  return makeSubscriberCard(issuer, {
    csn,
    purses: [
      { id: 1, balance: 0, max: 1_000_000, limit: 1_000_000, unit: 978 },
      { id: GAS, balance: 0, max: 100_000_000, limit: 1_000_000, unit: 978 },
    ],
    rng: new SeededRng('offline-bench:card'),
  });
}

/** Loads per second through the slot with `perInsertion` loads queued before each insertion. */
async function throughSlot(perInsertion: number, insertions: number): Promise<number> {
  const issuer = IssuerKeys.demo(cipher, 'offline-bench');
  const cm = await createCardMeter({
    issuer,
    meterId: fromHex('00BE17'),
    seed: 'offline-bench',
    meter: { start: START, tariff: TariffTable.flat(1000) },
  });
  const c = card(issuer);
  let seq = 0;
  let id = 0;
  let ack = 0;
  let took = 0;
  for (let round = 0; round < insertions + 3; round++) {
    const commands = [];
    for (let k = 0; k < perInsertion; k++) {
      seq++;
      id++;
      const data = signRemoteLoad(issuer, {
        csn: CSN,
        purse: GAS,
        seq,
        amount: 1,
        sellerId: SELLER,
        dateTime: NOW,
      });
      commands.push({ id, csn: CSN, ins: INS_REMOTE_LOAD, p2: GAS, data });
    }
    const body = cm.slot.commands.serve({ ackBelow: ack, commands, forget: [] });
    ack = body.next;
    const t0 = performance.now();
    const o = await cm.slot.insert(c.os);
    cm.slot.remove();
    if (round >= 3) took += performance.now() - t0; // three warm-up rounds
    if (!o.accepted || cm.slot.commands.queuedIds().length !== 0)
      throw new Error(`insertion ${round}: ${o.refusal ?? ''} ${o.message ?? ''}`);
  }
  cm.slot.commands.serve({ ackBelow: ack, commands: [], forget: [] });
  return (perInsertion * insertions) / (took / 1000);
}

/** Virtual line ms and wall ms of each of `n` purchases, sale to booked receipt. */
async function endToEnd(n: number): Promise<{ line: number[]; wall: number[]; rounds: number[] }> {
  const issuer = IssuerKeys.demo(cipher, 'offline-bench-e2e');
  const gasKeys = new IssuerKeys(cipher, [[GAS, issuer.utility(GAS)]]);
  const dir = mkdtempSync(join(tmpdir(), 'offline-bench-'));
  const meterId = '00BE18';
  const elec = await createCardMeter({
    issuer,
    meterId: fromHex(meterId),
    seed: 'offline-bench-e2e',
    meter: { start: START, tariff: TariffTable.flat(1000) },
  });
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const field = new PowerLineField({ latencyMs: [5, 40], loss: 0.1, duplicate: 0.05, corrupt: 0.01 }, 500);
  field.attach(meterId, { as: 0, ls: 1, modem: 1, keyVersion: ring.current! }, new MeterModem(elec));
  const channel = field.localService(0, 1).channel;
  const svc = new HostService({
    db: new HostDb(join(dir, 'host.db')),
    cipher,
    rng: new SeededRng('offline-bench-host'),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, join(dir, 'field.json')),
  });
  const sub = svc.addSubscriber({ name: 'bench' });
  svc.addMeter({ id: meterId, subscriberId: sub, as: 0, ls: 1, modem: 1 });
  svc.addCard({ serial: toHex(CSN).toUpperCase(), subscriberId: sub });
  const protocol = new HostProtocol(cipher, new SeededRng('offline-bench-line'), () => ring);
  const relay = new RelayService(
    svc.db,
    hostProtocolRelayLink(protocol, {
      ref: (id) => ({ id: fromHex(id), keyVersion: ring.current! }),
      terminal: (id) => field.terminal(id),
    }),
  );
  const key = relay.createUtilityKey(svc.apiKeys, GAS, 'gas');
  const utility = new UtilityServer({
    db: new UtilityDb(join(dir, 'utility.db')),
    issuer: gasKeys,
    purse: GAS,
    relay: new InProcessRelayPort(relay, svc.apiKeys.authenticate(key.key)!),
    clock: () => Date.UTC(2026, 10, 23, 10, 0, 0),
    sellerId: SELLER,
  });
  const c = card(issuer);
  const line: number[] = [];
  const wall: number[] = [];
  const rounds: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const w0 = performance.now();
      const l0 = channel.now;
      let r = 0;
      const ref = `p${i}`;
      await utility.sell(CSN, 100, ref);
      while (elec.slot.commands.queuedIds().length === 0) {
        if (++r > 200) throw new Error(`purchase ${i}: never reached the meter`);
        await relay.relayOnce();
      }
      const l1 = channel.now;
      const o = await elec.slot.insert(c.os);
      elec.slot.remove();
      if (!o.accepted) throw new Error(`purchase ${i}: card refused ${o.refusal ?? ''}`);
      const l2 = channel.now;
      for (;;) {
        await utility.poll();
        if (utility.sale(ref)?.state === 'on-card') break;
        if (++r > 400) throw new Error(`purchase ${i}: receipt never booked`);
        await relay.relayOnce();
      }
      line.push(l1 - l0 + (channel.now - l2));
      wall.push(performance.now() - w0);
      rounds.push(r);
    }
    if (!utility.balanceCheck().balanced) throw new Error('the utility ledger does not balance');
  } finally {
    svc.close();
    utility.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { line, wall, rounds };
}

export default async function bench(): Promise<Figure[]> {
  const n = Number(process.env['OFFLINE_BENCH_N'] ?? 200);
  const batch = await throughSlot(16, 60);
  const single = await throughSlot(1, 300);
  const e = await endToEnd(n);
  return [
    {
      name: 'remote loads through the meter slot, 16 per insertion (whole insertion timed)',
      value: Math.round(batch),
      unit: 'loads/s',
    },
    {
      name: 'remote loads through the meter slot, 1 per insertion (= insertions/s)',
      value: Math.round(single),
      unit: 'loads/s',
    },
    {
      name: `gas purchase end to end over the lossy line, median (virtual line time, ${n} purchases)`,
      value: Math.round(quantile(e.line, 0.5)),
      unit: 'ms',
    },
    {
      name: 'gas purchase end to end over the lossy line, p99 (virtual line time)',
      value: Math.round(quantile(e.line, 0.99)),
      unit: 'ms',
    },
    { name: 'relay rounds per purchase, p99', value: quantile(e.rounds, 0.99), unit: 'rounds' },
    {
      name: 'gas purchase end to end, process wall time per purchase, median',
      value: Math.round(quantile(e.wall, 0.5) * 10) / 10,
      unit: 'ms',
    },
    {
      name: 'gas purchase end to end, process wall time per purchase, p99',
      value: Math.round(quantile(e.wall, 0.99) * 10) / 10,
      unit: 'ms',
    },
  ];
}
