/**
 * The end-to-end story behind `npm start` (`meterpurse demo`): every part of the system, real, on
 * embedded defaults — no network beyond 127.0.0.1, no reader, no configuration.
 *
 *  1 the supplier's host starts for real: SQLite (WAL) in a temporary folder, HTTP/JSON API on an
 *    ephemeral 127.0.0.1 port; the subscriber, the meter and the card are registered through it
 *  2 a personalisation bureau makes a subscriber card (five purses, T=1 ATR)
 *  3 the vending point loads the electricity and gas purses (LOAD with the issuer's credit key)
 *  4 the card goes into the electricity meter's slot: ATR, mutual authentication with the meter's
 *    SAM, DEBIT, SVM credit, meter data written back onto the card
 *  5 days of a household, minute by minute: tariff steps, token requests to the SVM (each one
 *    authorised by the SAM), low-credit warning, cut-off, emergency credit
 *  6 the host sells credit over the power line (seed 000 value store, lossy framed link) into the
 *    same SVM: exactly once, emergency credit repaid first
 *  7 the card back at the vending point shows the meter's readings (seed 002)
 *  8 the offline gas meter takes the gas purse and closes its valve when it runs dry
 *  9 the books: value issued = value on the card + in the SVMs + consumed; the ledger balances
 *
 * Everything random is seeded (`seed`), so the same seed tells the same story byte for byte
 * (except the port number and the folder name).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeCipherProvider } from '../../card/index.js';
import { SeededRng } from '../../card/index.js';
import { toHex } from '../../card/index.js';
import { IssuerKeys } from '../../card/index.js';
import { PURSE_NAMES } from '../../card/index.js';
import { defaultPurses, makeSubscriberCard } from '../../card/index.js';
import { readDevice, type SubscriberView, type SvmView } from '../../card/index.js';
import { loadCard } from '../../terminal/index.js';
import { MeterModem } from '../../meter/index.js';
import { HostDb } from '../../host/index.js';
import { HostService } from '../../host/index.js';
import { buildApi } from '../../host/index.js';
import { SimulatedPaymentGateway } from '../../host/index.js';
import { LocalService } from '../../host/index.js';
import { PowerLineChannel } from '../../host/index.js';
import { VirtualReader } from '../../reader/index.js';
import { createCardMeter, type SimulatedCardMeter } from '../../meter/index.js';
import type { SlotOutcome } from '../../meter/index.js';
import { RtcTime, DAY_SECONDS, civilOf, CURRENCY_EUR, formatMoney } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import { LoadGenerator, LOAD_PROFILES } from '../../meter/index.js';
import { renderDisplay } from '../../meter/index.js';
import { EventRuns } from './EventRuns.js';
import { describeMeterData } from '../MeterDataText.js';

export interface DemoOptions {
  seed: string;
  /** Days of household consumption at the electricity meter. */
  days: number;
  /** Keep the temporary folder (database) instead of deleting it. */
  keep?: boolean;
}

export interface DemoResult {
  issued: number;
  onCard: number;
  inSvms: number;
  /** Net credit in the meters: `creditLeft − owed` (negative when the household owes more than is left). */
  inMeters: number;
  /** Token + tank + emergency credit not yet used, in the meters. */
  creditLeft: number;
  /** Owed to the meters: emergency credit used and energy used without credit, repaid first from the next credit. */
  owed: number;
  /** Charged for the energy and gas metered (paid from credit, or owed). */
  consumed: number;
  balanced: boolean;
  ledgerBalanced: boolean;
  hostCredits: number;
  cardMeterData: SubscriberView['meterData'];
  electricity: { energyWh: number; tokenRequests: number; cutoffs: number; emergencyUses: number };
  gas: { volumeL: number; valveClosed: boolean };
  dbPath: string;
}

const ELECTRICITY = 1;
const GAS = 2;
/** The demo issuer's purses, the meters' tariffs and the host's credits are all in euro cents. */
const eur = (cents: number) => formatMoney(cents, CURRENCY_EUR);
/** Energy or volume in thousandths (mWh, mL) as kWh or m³, truncated as the meter's display reads. */
const kilo = (milli: number) => (Math.floor(milli / 1000) / 1000).toFixed(3);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Where a meter's value is: in its SVM, or drawn out of it by token requests. What was drawn is
 * either paid for consumption or still in the meter (token, tank, emergency credit net of what
 * is owed back).
 */
function heldByMeter(cm: SimulatedCardMeter): {
  svm: number;
  drawn: number;
  inMeter: number;
  left: number;
  owed: number;
  consumed: number;
} {
  const svm = (readDevice(cm.svm.store) as SvmView).balance;
  const ex = cm.meter.exchanger;
  return {
    svm,
    drawn: ex.drawn,
    inMeter: ex.localCredit,
    left: ex.token + ex.tank + ex.emergencyLeft,
    owed: ex.debt + ex.emergencyOwed,
    consumed: ex.charged,
  };
}

/** Runs `minutes` of a seeded household at the meter; nothing is drawn while the supply is off. */
async function householdMinutes(
  cm: SimulatedCardMeter,
  load: LoadGenerator,
  minutes: number,
  onMinute: (t: number) => Promise<void> | void,
): Promise<void> {
  const m = cm.meter;
  let rem = 0;
  for (let i = 0; i < minutes; i++) {
    const t = m.now;
    const sod = t % DAY_SECONDS;
    const dn = Math.floor(t / DAY_SECONDS);
    const rest = m.schedule.active.dayType(dn) !== 'weekday';
    const w = load.watts((sod / 60) | 0, civilOf(dn).month, rest);
    let q = 0;
    if (m.supply.connected) {
      const acc = w * 50 + rem; // W over 60 s in mWh = W·50/3, remainder carried
      q = Math.floor(acc / 3);
      rem = acc - q * 3;
    }
    if (m.step(t + 60, q)) await m.service();
    await onMinute(t + 60);
  }
}

/** One call of the host's API with API key `key` (each back-office role has its own). */
async function api<T>(
  base: string,
  key: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  const authorization = `Bearer ${key}`;
  const r = await fetch(base + path, {
    method,
    ...(body === undefined
      ? { headers: { authorization } }
      : { headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`host ${method} ${path}: HTTP ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function runDemo(o: DemoOptions, say: (line: string) => void): Promise<DemoResult> {
  const cipher = new NodeCipherProvider();
  const issuer = IssuerKeys.demo(cipher, o.seed);
  const rng = (name: string) => new SeededRng(`demo:${o.seed}:${name}`);
  const start = RtcTime.of(2026, 11, 2, 8, 0); // a Monday morning
  const dir = mkdtempSync(join(tmpdir(), 'meterpurse-demo-'));
  const dbPath = join(dir, 'host.db');
  const h = (title: string) => say(`\n== ${title}`);

  say(`meterpurse demo — seed "${o.seed}"; keys: the demo issuer (public test keys, never real secrets)`);

  // ---- 1 host ----
  h('1. The supplier host starts');
  const db = new HostDb(dbPath);
  const meterId = Uint8Array.of(0x00, 0x01, 0x23);
  const meterHex = toHex(meterId);
  const elec = await createCardMeter({
    meter: {
      start,
      tariff: TariffTable.example(30), // 30 cents/kWh at 100 %; steps 50/75/100/200/300 %
      friendly: { nightFrom: 22 * 60, nightTo: 7 * 60, weekends: false, holidays: false },
    },
    issuer,
    meterId,
    seed: `demo:${o.seed}:electricity`,
    svmMax: 20_000,
  });
  const line = new PowerLineChannel(rng('power-line'), {
    loss: 0.2,
    duplicate: 0.1,
    corrupt: 0.05,
    latencyMs: [1, 3],
  });
  const ls = new LocalService(0, 1, line);
  const svc = new HostService({
    db,
    cipher,
    rng: rng('host'),
    gateway: new SimulatedPaymentGateway(),
    // Key ceremony: the host holds the same KH versions the meters' SAMs were personalised from.
    initialKeys: issuer.utility(1).host,
    field: (keys) => ({
      terminal: () => ls.terminal(7),
      install: (id) => {
        if (id !== meterHex) throw new Error(`the demo field has only meter ${meterHex}`);
        // The meter's own modem: its end of the power line, over its SAM, SVM and meter core.
        ls.attach(7, meterId, new MeterModem(elec), keys().current!);
      },
    }),
  });
  const app = buildApi(svc);
  // The vending point and the auditor each call the API with a key of their own role.
  const vendingKey = svc.apiKeys.create(['vending'], 'demo vending point').key;
  const auditorKey = svc.apiKeys.create(['auditor'], 'demo auditor').key;
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  say(`SQLite ${dbPath} (WAL, synchronous FULL); HTTP API ${base}`);
  try {
    const sub = await api<{ id: number }>(base, vendingKey, 'POST', '/subscribers', {
      name: 'A. Householder',
    });
    await api(base, vendingKey, 'POST', '/meters', {
      id: meterHex,
      subscriberId: sub.id,
      as: 0,
      ls: 1,
      modem: 7,
    });
    say(`POST /subscribers → #${sub.id}; POST /meters → meter ${meterHex} at AS 0 / LS 1 / modem 7`);

    // ---- 2 bureau ----
    h('2. The personalisation bureau makes a subscriber card');
    const csn = Uint8Array.from([0x4d, 0x50, 0, 0, 0, 0, 0x10, 0x01]);
    const card = makeSubscriberCard(issuer, { csn, purses: defaultPurses(0), rng: rng('card') });
    await api(base, vendingKey, 'POST', '/cards', { serial: toHex(csn), subscriberId: sub.id });
    say(`CSN ${toHex(csn)}, ATR ${toHex(card.os.powerUp())}, purses ${PURSE_NAMES_LIST}`);

    // ---- 3 vending ----
    h('3. The vending point loads the card');
    const vending = new VirtualReader('vending point', card.os);
    const vch = await vending.connect();
    const when = start.encodeBcd();
    const loads = [
      { purse: ELECTRICITY, amount: 3000 },
      { purse: GAS, amount: 1500 },
    ];
    for (const l of loads) {
      const r = await loadCard(vch, issuer, {
        ...l,
        terminalId: Uint8Array.of(0x56, 0x45, 0x4e, 0x44),
        dateTime: when,
      });
      say(`LOAD ${PURSE_NAMES[l.purse]} ${eur(l.amount)} → balance ${eur(r.balance)}, counter ${r.counter}`);
    }
    await vch.disconnect();
    vending.remove();
    const issued = loads.reduce((s, l) => s + l.amount, 0);

    // ---- 4 electricity meter, card slot ----
    h(`4. The card goes into electricity meter ${meterHex}`);
    const o1 = await elec.slot.insert(card.os);
    reportSlot(o1, say);
    elec.slot.remove();
    await elec.meter.service();
    say(
      `the meter was installed empty with its relay open; now: relay ${elec.meter.supply.connected ? 'closed' : 'open'}`,
    );

    // ---- 5 household ----
    h(
      `5. ${plural(o.days, 'day')} of a household at the electricity meter; the host tops up over the power line`,
    );
    const events = new EventRuns(say);
    // The relay is kept closed in the friendly hours (nights) even with no credit; when they end
    // and nothing was bought, it opens again: a morning cut-off that repeats every day.
    const hhmm = (min: number) =>
      `${String(Math.floor(min / 60) % 24).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
    const friendlyEnd = hhmm(elec.meter.friendly.nightTo);
    const whyOff = (_first: number, _last: number, daily: string | undefined) =>
      daily === friendlyEnd
        ? `no credit was bought after it: the friendly hours, ${hhmm(elec.meter.friendly.nightFrom)}–${friendlyEnd}, keep the supply on at night on credit owed, and the relay opens when they end`
        : '';
    const load = new LoadGenerator(LOAD_PROFILES.household!, 7);
    let pressed = elec.meter.cutoffs;
    const cutoffsBefore = pressed;
    let emergencyUses = 0;
    let lowSeen = elec.meter.events.count('low-credit');
    let hostCredits = 0;
    let requestNo = 0;
    await householdMinutes(elec, load, o.days * 1440, async (t) => {
      const m = elec.meter;
      const low = m.events.count('low-credit');
      if (low > lowSeen) events.event(t, `low-credit warning: ${eur(m.exchanger.credit)} left in the meter`);
      lowSeen = low;
      if (!m.supply.connected && m.cutoffs > pressed) {
        pressed = m.cutoffs;
        events.event(t, 'credit exhausted: relay open', whyOff);
        if (m.pressEmergencyCredit()) {
          emergencyUses++;
          events.event(
            t,
            `emergency-credit button: ${eur(m.exchanger.emergencyCredit)} granted, relay closed`,
          );
        } else if (hostCredits === 0) {
          // ---- 6 host over the power line ----
          hostCredits++;
          const req = {
            requestId: `demo-${++requestNo}`,
            meterId: meterHex,
            amount: 2000,
            method: 'card',
            account: '4111111111111111',
          };
          type Answer = { txId: string; state: string; outcome: string; balance?: number };
          const r = await api<Answer>(base, vendingKey, 'POST', '/recharges', req);
          events.event(
            t,
            `POST /recharges ${eur(req.amount)}, card payment guaranteed → value store tx ${r.txId} over the power line (R1 R2 n → S1t R3 → S2h EnAmnt → M): ${r.state}, SVM ${eur(r.balance ?? 0)}; relay ${m.supply.connected ? 'closed' : 'open'}`,
          );
          const again = await api<Answer>(base, vendingKey, 'POST', '/recharges', req);
          events.event(
            t,
            `the same request again (as after a lost HTTP answer) → tx ${again.txId} ${again.outcome}: not credited twice`,
          );
        }
      }
    });
    events.flush();
    const m = elec.meter;
    const steps = m.schedule.active.steps;
    const eOwed = m.exchanger.debt + m.exchanger.emergencyOwed;
    say(
      `energy ${kilo(m.total)} kWh: ` +
        m.byStep
          .map((q, i) => `${steps[i]} % ${kilo(q)}`)
          .filter((_, i) => m.byStep[i]! > 0)
          .join(', ') +
        ` kWh`,
    );
    say(
      `charged ${eur(m.exchanger.charged)}${eOwed > 0 ? ` (${eur(eOwed)} of it owed to the meter)` : ''}; ${m.exchanger.requests} token requests to the SVM, each authorised by the SAM; cut-offs ${m.cutoffs - cutoffsBefore}, minutes off ${Math.floor(m.offSeconds / 60)}`,
    );
    say(
      `power line: ${line.stats.sent} frames sent, ${line.stats.lost} lost, ${line.stats.duplicated} duplicated, ${line.stats.corrupted} corrupted; the LS dropped ${ls.stats.framesRejected + ls.stats.lateOrForeign} and retried ${ls.stats.timeouts} times`,
    );
    say('display:');
    for (const line of renderDisplay(m.display())
      .split('\n')
      .filter((l) => l.trim()))
      say(`  ${line}`);

    // ---- 7 card back at the vending point ----
    h('6. The card back in the electricity meter, then at the vending point');
    const o2 = await elec.slot.insert(card.os);
    reportSlot(o2, say);
    elec.slot.remove();
    const view = readDevice(card.store) as SubscriberView;
    const md = view.meterData[0];
    if (md) for (const l of describeMeterData(md, view.purses[0]!.unit)) say(l);

    // ---- 8 gas ----
    h('7. The card in the offline gas meter');
    const gas = await createCardMeter({
      meter: { start: elec.meter.now, commodity: 'gas', tariff: TariffTable.flat(110) }, // 1.10 EUR per m³
      issuer,
      meterId: Uint8Array.of(0x00, 0x02, 0x42),
      seed: `demo:${o.seed}:gas`,
    });
    const g1 = await gas.slot.insert(card.os);
    reportSlot(g1, say);
    gas.slot.remove();
    // A boiler: 1.2 m³ a day, in the first quarter of every hour, until the valve closes.
    let minutes = 0;
    while (gas.meter.supply.connected && minutes < 60 * 24 * 40) {
      const q = minutes % 60 < 15 ? 3_333 : 0; // mL per minute
      if (gas.meter.step(gas.meter.now + 60, q)) await gas.meter.service();
      minutes++;
    }
    say(
      `${gas.meter.time.toDisplay()} ${kilo(gas.meter.total)} m³ used, charged ${eur(gas.meter.exchanger.charged)}; valve ${gas.meter.supply.connected ? 'open' : 'closed (credit exhausted)'}`,
    );

    // ---- 9 books ----
    h('8. The books');
    const onCard = (readDevice(card.store) as SubscriberView).purses.reduce((s, p) => s + p.balance, 0);
    const e = heldByMeter(elec);
    const gm = heldByMeter(gas);
    const hostIn = hostCredits * 2000;
    const total = onCard + e.svm + gm.svm + e.drawn + gm.drawn;
    const metersAgree = e.drawn === e.consumed + e.inMeter && gm.drawn === gm.consumed + gm.inMeter;
    const balanced = total === issued + hostIn && metersAgree;
    const ledger = await api<{ balanced: boolean }>(base, auditorKey, 'GET', '/reports/ledger');
    say(`issued: card loads ${eur(issued)} + power-line credits ${eur(hostIn)} = ${eur(issued + hostIn)}`);
    say(
      `held: card ${eur(onCard)} + SVMs ${eur(e.svm + gm.svm)} + drawn by the meters ${eur(e.drawn + gm.drawn)} = ${eur(total)}`,
    );
    const left = e.left + gm.left;
    const owed = e.owed + gm.owed;
    say(
      `drawn = charged for energy and gas ${eur(e.consumed + gm.consumed)} + credit left in the meters ${eur(left)} (token, tank, emergency credit) − owed to the meters ${eur(owed)}${metersAgree ? '' : ' — DOES NOT ADD UP'}`,
    );
    if (owed > 0) {
      const emergencyOwed = elec.meter.exchanger.emergencyOwed + gas.meter.exchanger.emergencyOwed;
      say(
        `owed: ${eur(emergencyOwed)} of emergency credit used and ${eur(owed - emergencyOwed)} of energy used with no credit left (friendly hours, the last minute before a cut-off); the meter takes it first from the next credit, so more was charged than drawn`,
      );
    }
    say(
      `${balanced ? 'balanced: not a cent created or lost' : 'NOT BALANCED'}; host ledger ${ledger.balanced ? 'balanced' : 'NOT balanced'}`,
    );
    return {
      issued: issued + hostIn,
      onCard,
      inSvms: e.svm + gm.svm,
      inMeters: e.inMeter + gm.inMeter,
      creditLeft: left,
      owed,
      consumed: e.consumed + gm.consumed,
      balanced,
      ledgerBalanced: ledger.balanced,
      hostCredits,
      cardMeterData: view.meterData,
      electricity: {
        energyWh: Math.floor(m.total / 1000),
        tokenRequests: m.exchanger.requests,
        cutoffs: m.cutoffs,
        emergencyUses,
      },
      gas: { volumeL: Math.floor(gas.meter.total / 1000), valveClosed: !gas.meter.supply.connected },
      dbPath,
    };
  } finally {
    await app.close();
    svc.close();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const PURSE_NAMES_LIST = [1, 2, 3, 4, 5].map((p) => PURSE_NAMES[p]).join(', ');

function reportSlot(o: SlotOutcome, say: (l: string) => void): void {
  if (!o.accepted) {
    say(`card refused: ${o.refusal} — ${o.message ?? ''}`);
    return;
  }
  const parts = [
    `card ${o.csn}`,
    o.recovery !== 'none' ? `recovery ${o.recovery} (${eur(o.recovered)})` : undefined,
    `moved ${eur(o.amount)} into the SVM`,
    `left on the card ${eur(o.leftOnCard ?? 0)}`,
    `SVM ${eur(o.svmBalance ?? 0)}`,
    o.meterDataWritten ? 'meter data written onto the card' : undefined,
  ].filter(Boolean);
  say(parts.join('; '));
}
