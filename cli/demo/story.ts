/**
 * The end-to-end story behind `npm start` (`meterpurse demo`): every part of the system, real, on
 * embedded defaults — no network beyond 127.0.0.1, no reader, no configuration.
 *
 *  1 the supplier's host starts for real: SQLite (WAL) in a temporary folder, HTTP/JSON API on an
 *    ephemeral 127.0.0.1 port; the subscriber, the meter and the card are registered through it.
 *    The gas utility's own server starts beside it (its own SQLite file, only the gas purse's
 *    keys) with a `utility` API key scoped to purse 2, made by the host's admin (issue 17)
 *  2 a personalisation bureau makes a subscriber card (five purses, T=1 ATR)
 *  3 the vending point loads the electricity purse (LOAD with the issuer's credit key); the gas
 *    utility sells gas and binds the card's gas purse to its gas meter through the host's relay
 *    API (REMOTE LOAD, PUT CONFIG); a relay round carries both over the power line (H = 57)
 *  4 the card goes into the electricity meter's slot: ATR, mutual authentication with the meter's
 *    SAM, DEBIT, SVM credit, meter data written back onto the card — and the gas load and the
 *    configuration land on the card's gas purse; the receipt goes back and the gas utility books it
 *  5 days of a household, minute by minute: tariff steps, token requests to the SVM (each one
 *    authorised by the SAM), low-credit warning, cut-off, emergency credit; the host sells credit
 *    over the power line (seed 000 value store, lossy framed link) into the same SVM: exactly once,
 *    emergency credit repaid first
 *  6 the card back at the vending point shows the meter's readings (seed 002)
 *  7 the offline gas meter applies the utility's configuration, takes the gas purse, closes its
 *    valve when it runs dry and writes its signed readings (every tariff step) onto the card
 *  8 the card back in the electricity meter: the gas readings go up the power line to the gas
 *    utility, which verifies and stores them and has them cleared from the card
 *  9 the books: value issued = value on the card + in the SVMs + consumed; the host's ledger and
 *    the gas utility's (sold = on the card) balance
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
import { AID_PURSE, OfflineReading, findTlv } from '../../card/index.js';
import { loadCard, apdus as A, expectOk } from '../../terminal/index.js';
import { MeterModem } from '../../meter/index.js';
import { HostDb } from '../../host/index.js';
import { HostService } from '../../host/index.js';
import { buildApi } from '../../host/index.js';
import { SimulatedPaymentGateway } from '../../host/index.js';
import { LocalService } from '../../host/index.js';
import { PowerLineChannel } from '../../host/index.js';
import { RelayService, hostProtocolRelayLink } from '../../host/index.js';
import { HttpRelayPort, UtilityDb, UtilityServer, type BalanceCheck } from '../../host/index.js';
import type { CardChannel } from '../../reader/index.js';
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
  /** Where `issued` came from: vending-point LOADs, the gas utility's remote loads, host credits. */
  issuedBy: { cardLoads: number; remoteLoads: number; powerLine: number };
  /** Issue 17: the gas utility's own server, selling and reading through the host's relay. */
  gasUtility: GasUtilityResult;
  dbPath: string;
  gasDbPath: string;
}

/** What the gas utility did through the electricity host's relay (issue 17). */
export interface GasUtilityResult {
  /** Its own ledger (rule 3 of host/utility/UtilityServer.ts): sold = in transit + on card. */
  books: BalanceCheck;
  /** Sales booked on the card (receipt verified). */
  receiptsBooked: number;
  /**
   * What the card's gas purse gained at each insertion into the electricity meter, in order:
   * the remote load arrives at the first and never again.
   */
  remoteLoads: number[];
  /** The configuration the card accepted (PUT CONFIG 9000) and the gas meter applied (0: none). */
  configAnsweredByCard: boolean;
  configAppliedAtGasMeter: number;
  /** Relay rounds over the power line, and how many of their exchanges the lossy line broke. */
  relayRounds: number;
  relayFailures: number;
  /** The gas meter's readings the utility verified and stored. */
  readings: Array<{
    meterId: string;
    seq: number;
    cumulativeL: number;
    steps: Array<{ percent: number; litres: number }>;
    cleared: boolean;
  }>;
  /** The card's gas readings record after the utility's CLEAR READINGS: empty. */
  cardReadingCleared: boolean;
}

const ELECTRICITY = 1;
const GAS = 2;
/** The demo issuer's purses, the meters' tariffs and the host's credits are all in euro cents. */
const eur = (cents: number) => formatMoney(cents, CURRENCY_EUR);
/** Energy or volume in thousandths (mWh, mL) as kWh or m³, truncated as the meter's display reads. */
const kilo = (milli: number) => (Math.floor(milli / 1000) / 1000).toFixed(3);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** Litres as m³, three decimals (integers only). */
const cubic = (litres: number) => `${Math.floor(litres / 1000)}.${String(litres % 1000).padStart(3, '0')}`;
/** RTC seconds count from 2000-01-01 00:00:00 (protocol/RtcTime.ts); the gas utility's clock is in ms since 1970. */
const RTC_EPOCH_MS = Date.UTC(2000, 0, 1);
/** The gas utility's sale, its reference, the gas meter it binds the card to and the price it sets. */
const GAS_SOLD = 1500;
const GAS_ORDER = 'demo-gas-1';
const GAS_METER = '000242';
const GAS_PRICE = 120; // cents per m³; the gas meter was made with 1.10
const GAS_EMERGENCY = 500;

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
  const gasDbPath = join(dir, 'gas-utility.db');
  const h = (title: string) => say(`\n== ${title}`);

  say(`meterpurse demo — seed "${o.seed}"; keys: the demo issuer (public test keys, never real secrets)`);

  // ---- 1 host ----
  h("1. The supplier host starts, and the gas utility's own server beside it");
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
  // The vending point, the auditor and the admin each call the API with a key of their own role.
  const vendingKey = svc.apiKeys.create(['vending'], 'demo vending point').key;
  const auditorKey = svc.apiKeys.create(['auditor'], 'demo auditor').key;
  const adminKey = svc.apiKeys.create(['admin'], 'demo administrator').key;
  // Issue 17: the relay for other utilities on the same power line as the value store. `host serve`
  // runs its rounds on a schedule (RelaySchedule, --relay-interval); the story runs one when it
  // needs one, and more while the lossy line breaks exchanges (a broken one is simply asked again).
  const relay = new RelayService(
    svc.db,
    hostProtocolRelayLink(svc.protocol, svc.dispatcher.meters, svc.dispatcher),
  );
  let relayRounds = 0;
  let relayFailures = 0;
  /**
   * Relay rounds until `done`; `all`: ask every meter (a round that collects readings).
   * @returns how the rounds went, for the story ("3 rounds, 2 exchanges broken by the line").
   */
  const relayUntil = async (done: () => boolean | Promise<boolean>, what: string, all = false) => {
    let n = 0;
    let broken = 0;
    while (!(await done())) {
      if (n++ === 40) throw new Error(`the relay never got there: ${what}`);
      relayRounds++;
      for (const r of await relay.relayOnce(all ? relay.repo.allMeters() : undefined)) if (r.error) broken++;
    }
    relayFailures += broken;
    return `${plural(n, 'round')}${broken ? ` (${plural(broken, 'exchange')} broken by the line, asked again)` : ''}`;
  };
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  say(`SQLite ${dbPath} (WAL, synchronous FULL); HTTP API ${base}`);
  let gasUtility: UtilityServer | undefined;
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
    // The gas utility: another company, its own server and database, holding only the gas purse's
    // masters. The host's admin gives it an API key that can address purse 2 and nothing else.
    const gasKey = await api<{ key: string }>(base, adminKey, 'POST', '/relay/keys', {
      purse: GAS,
      name: 'demo gas utility',
    });
    gasUtility = new UtilityServer({
      db: new UtilityDb(gasDbPath),
      issuer: new IssuerKeys(cipher, [[GAS, issuer.utility(GAS)]]),
      purse: GAS,
      relay: new HttpRelayPort(base, gasKey.key),
      clock: () => RTC_EPOCH_MS + elec.meter.now * 1000,
      sellerId: Uint8Array.of(0x47, 0x41, 0x53, 0x31), // "GAS1"
    });
    const gu = gasUtility;
    say(
      `gas utility: its own server, SQLite ${gasDbPath}, the gas purse's keys only; POST /relay/keys (admin) → an API key with role utility for purse ${GAS} only`,
    );

    // ---- 2 bureau ----
    h('2. The personalisation bureau makes a subscriber card');
    const csn = Uint8Array.from([0x4d, 0x50, 0, 0, 0, 0, 0x10, 0x01]);
    const card = makeSubscriberCard(issuer, { csn, purses: defaultPurses(0), rng: rng('card') });
    await api(base, vendingKey, 'POST', '/cards', { serial: toHex(csn), subscriberId: sub.id });
    say(`CSN ${toHex(csn)}, ATR ${toHex(card.os.powerUp())}, purses ${PURSE_NAMES_LIST}`);

    // ---- 3 vending ----
    h('3. The vending point loads electricity; the gas utility sells gas through the host');
    const vending = new VirtualReader('vending point', card.os);
    const vch = await vending.connect();
    const when = start.encodeBcd();
    const loads = [{ purse: ELECTRICITY, amount: 3000 }];
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
    const purseOf = (id: number) =>
      (readDevice(card.store) as SubscriberView).purses.find((p) => p.id === id)!.balance;
    const sale = await gu.sell(csn, GAS_SOLD, GAS_ORDER);
    say(
      `gas utility: order ${GAS_ORDER}, ${eur(GAS_SOLD)} of gas → REMOTE LOAD seq ${sale.seq} signed with the card's K_remote → POST /relay/card-commands → relay id ${sale.relayId}`,
    );
    const cfg = await gu.configure(csn, {
      meterId: GAS_METER,
      emergencyLimit: GAS_EMERGENCY,
      unitCharge: GAS_PRICE,
      blacklistVersion: 0,
    });
    say(
      `gas utility: configuration v${cfg.version} binds the card's gas purse to gas meter ${GAS_METER}, ${eur(GAS_PRICE)} per m³, emergency credit ${eur(GAS_EMERGENCY)} → PUT CONFIG`,
    );
    const carried = await relayUntil(
      () => elec.slot.commands.queuedIds(csn).length === 2,
      'the gas commands in the electricity meter',
    );
    say(
      `relay over the power line (H = 57), ${carried}: electricity meter ${meterHex} holds both for card ${toHex(csn)} until it is inserted; the host carries them but cannot make, change or repeat one`,
    );

    // ---- 4 electricity meter, card slot ----
    h(`4. The card goes into electricity meter ${meterHex}`);
    const remoteLoads: number[] = [];
    /** One insertion into the electricity meter; records what the gas purse gained. */
    const intoElectricityMeter = async () => {
      const before = purseOf(GAS);
      const out = await elec.slot.insert(card.os);
      elec.slot.remove();
      remoteLoads.push(purseOf(GAS) - before);
      return { out, before };
    };
    const { out: o1, before: gasBefore } = await intoElectricityMeter();
    reportSlot(o1, say);
    await elec.meter.service();
    say(
      `the meter was installed empty with its relay open; now: relay ${elec.meter.supply.connected ? 'closed' : 'open'}`,
    );
    say(
      `the gas utility's commands, handed to the card by the slot: REMOTE LOAD → gas purse ${eur(gasBefore)} → ${eur(purseOf(GAS))}; PUT CONFIG → the binding on the card; the card's answers (with its signed receipt) wait in the meter for the host`,
    );
    const configOf = () => gu.db.configs(toHex(csn), GAS).find((c) => c.version === cfg.version);
    const booked = await relayUntil(async () => {
      await gu.poll();
      return gu.sale(GAS_ORDER)?.state === 'on-card' && configOf()?.state !== 'queued';
    }, 'the receipt booked');
    const b4 = gu.balanceCheck();
    say(
      `relay + poll, ${booked}: the gas utility verified the receipt (MAC under K_remote) and booked ${GAS_ORDER} on the card — sold ${eur(b4.sold)} = on the card ${eur(b4.onCard)} + in transit ${eur(b4.inTransit)}; configuration v${cfg.version} ${configOf()?.state === 'applied' ? 'accepted by the card' : 'REFUSED'}`,
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
            `POST /recharges ${eur(req.amount)}, card payment guaranteed → value store tx ${r.txId} over the power line (R1 R2 n → S1t R3 → S2h EnAmnt → M): ${r.state === 'confirmed' ? `confirmed, SVM ${eur(r.balance ?? 0)}` : `${r.state} (no answer made it back)`}; relay ${m.supply.connected ? 'closed' : 'open'}`,
          );
          const again = await api<Answer>(base, vendingKey, 'POST', '/recharges', req);
          events.event(
            t,
            `the same request again (as after a lost HTTP answer) → tx ${again.txId} ${again.outcome}: not credited twice`,
          );
          // When the lossy line broke every session, the credit stays pending (the meter may have
          // stored it and only its answer was lost): the host delivers the same tx again, as
          // `host serve` does for what is pending, until the meter answers. A tx is stored once.
          let retries = 0;
          let last: Awaited<ReturnType<typeof svc.recover>> = [];
          while (retries < 20) {
            const outs = await svc.recover();
            if (outs.length === 0) break;
            last = outs;
            retries++;
          }
          const done = last[last.length - 1];
          if (done)
            events.event(
              t,
              done.result === 'confirmed'
                ? `the line broke those sessions; the host delivered pending tx ${done.txId} again (${plural(retries, 'time')}): confirmed${done.duplicate ? ' — the meter had already stored it' : ''}, SVM ${eur(done.balance)}; credited once`
                : `pending tx ${done.txId} still ${done.result} after ${plural(retries, 'delivery', 'deliveries')}`,
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
    const { out: o2 } = await intoElectricityMeter();
    reportSlot(o2, say);
    const view = readDevice(card.store) as SubscriberView;
    const md = view.meterData[0];
    if (md) for (const l of describeMeterData(md, view.purses[0]!.unit)) say(l);

    // ---- 8 gas ----
    h(`7. The card in the offline gas meter ${GAS_METER}`);
    const gas = await createCardMeter({
      meter: { start: elec.meter.now, commodity: 'gas', tariff: TariffTable.flat(110) }, // made with 1.10 EUR per m³
      issuer,
      meterId: Uint8Array.of(0x00, 0x02, 0x42),
      seed: `demo:${o.seed}:gas`,
    });
    const g1 = await gas.slot.insert(card.os);
    reportSlot(g1, say);
    gas.slot.remove();
    const configAppliedAtGasMeter = g1.config?.kind === 'applied' ? g1.config.version : 0;
    say(
      g1.config?.kind === 'applied'
        ? `the gas utility's configuration v${g1.config.version}, checked by the meter's SAM, applied: the card is bound to this meter, ${eur(GAS_PRICE)} per m³, emergency credit ${eur(gas.meter.exchanger.emergencyCredit)}`
        : `the gas utility's configuration was not applied: ${g1.config?.kind ?? 'none read'}`,
    );
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
    // The subscriber shows the card to the closed meter: nothing left to take, but the meter writes
    // its reading, signed by its SAM under K_offline (which only the gas utility can check), onto it.
    const g2 = await gas.slot.insert(card.os);
    gas.slot.remove();
    const written = await gasReadingOnCard(card.os);
    say(
      g2.readings?.written && written
        ? `the card shown to the meter again: signed reading seq ${written.sequence} written onto the card (cumulative ${cubic(written.cumulative)} m³, every tariff step)`
        : `the card shown to the meter again: no reading written (${g2.readings?.skipped ?? g2.refusal ?? 'none'})`,
    );

    // ---- 8 readings back through the electricity meter ----
    h(`8. The card back in electricity meter ${meterHex}: the gas readings go to the gas utility`);
    const { out: o3 } = await intoElectricityMeter();
    say(
      `card ${o3.csn}: the slot copied the gas meter's signed reading from the card into its outbox for the host; the card keeps it until the gas utility clears it`,
    );
    const readingsBefore = gu.db.readingsOf(GAS_METER).length;
    const collected = await relayUntil(
      async () => {
        await gu.poll();
        return gu.db.readingsOf(GAS_METER).length > readingsBefore;
      },
      'the gas reading stored at the utility',
      true,
    );
    for (const st of gu.db.readingsOf(GAS_METER).slice(readingsBefore)) {
      const rd = OfflineReading.decode(st.record);
      say(
        `relay + poll, ${collected}: the gas utility verified the reading (MAC under K_offline) and stored it — meter ${st.meterId}, seq ${st.seq}, ${RtcTime.decodeBcd(rd.dateTime).toDisplay()}, cumulative ${cubic(st.cumulative)} m³, steps ${rd.stepPercents.map((p, i) => `${p} % ${cubic(rd.stepRegisters[i]!)}`).join(', ')} m³, configuration v${rd.configVersion}${st.anomalies.length ? `, anomalies ${st.anomalies.join(', ')}` : ''}`,
      );
    }
    // Its CLEAR READINGS (signed for that reading alone) goes down the same way and reaches the
    // card at the next insertion; the card's answer comes back and the utility marks it cleared.
    const down = await relayUntil(
      () => elec.slot.commands.queuedIds(csn).length === 1,
      'CLEAR READINGS in the meter',
    );
    await intoElectricityMeter();
    const cardReadingCleared = (await gasReadingOnCard(card.os)) === undefined;
    const up = await relayUntil(async () => {
      await gu.poll();
      return gu.db.readingsOf(GAS_METER).every((r) => r.cleared);
    }, 'the reading marked cleared');
    say(
      `CLEAR READINGS (signed for that reading only) down the line, ${down}; at the next insertion the card's gas reading is ${cardReadingCleared ? 'cleared' : 'NOT cleared'}; its answer back, ${up}: the gas utility marks the reading cleared`,
    );

    // ---- 9 books ----
    h('9. The books');
    const onCardNow = (readDevice(card.store) as SubscriberView).purses.reduce((s, p) => s + p.balance, 0);
    const e = heldByMeter(elec);
    const gm = heldByMeter(gas);
    const hostIn = hostCredits * 2000;
    const gasBooks = gu.balanceCheck();
    const remoteIn = gasBooks.sold;
    const total = onCardNow + e.svm + gm.svm + e.drawn + gm.drawn;
    const metersAgree = e.drawn === e.consumed + e.inMeter && gm.drawn === gm.consumed + gm.inMeter;
    const arrived = remoteLoads.reduce((a, x) => a + x, 0);
    // The gas utility's sales count as issued only as they are booked on the card, and what it
    // booked must be what the card's gas purse gained by remote load.
    const gasAgrees = gasBooks.balanced && gasBooks.inTransit === 0 && arrived === gasBooks.onCard;
    const issuedAll = issued + remoteIn + hostIn;
    const balanced = total === issuedAll && metersAgree && gasAgrees;
    const ledger = await api<{ balanced: boolean }>(base, auditorKey, 'GET', '/reports/ledger');
    say(
      `issued: card loads ${eur(issued)} + the gas utility's remote loads ${eur(remoteIn)} + power-line credits ${eur(hostIn)} = ${eur(issuedAll)}`,
    );
    say(
      `held: card ${eur(onCardNow)} + SVMs ${eur(e.svm + gm.svm)} + drawn by the meters ${eur(e.drawn + gm.drawn)} = ${eur(total)}`,
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
    say(
      `gas utility's ledger: sold ${eur(gasBooks.sold)} = on the card ${eur(gasBooks.onCard)} (receipts verified) + in transit ${eur(gasBooks.inTransit)}; ${gasAgrees ? 'balanced, and the card gained exactly that by remote load' : 'NOT BALANCED'}`,
    );
    return {
      issued: issuedAll,
      onCard: onCardNow,
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
      issuedBy: { cardLoads: issued, remoteLoads: remoteIn, powerLine: hostIn },
      gasUtility: {
        books: gasBooks,
        receiptsBooked: gu.sale(GAS_ORDER)?.state === 'on-card' ? 1 : 0,
        remoteLoads,
        configAnsweredByCard: configOf()?.state === 'applied',
        configAppliedAtGasMeter,
        relayRounds,
        relayFailures,
        readings: gu.db.readingsOf(GAS_METER).map((st) => {
          const rd = OfflineReading.decode(st.record);
          return {
            meterId: st.meterId,
            seq: st.seq,
            cumulativeL: st.cumulative,
            steps: rd.stepPercents.map((percent, i) => ({ percent, litres: rd.stepRegisters[i]! })),
            cleared: st.cleared,
          };
        }),
        cardReadingCleared,
      },
      dbPath,
      gasDbPath,
    };
  } finally {
    await app.close();
    svc.close();
    gasUtility?.db.close();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The gas reading on the card (SFI 04, the gas purse's record), as a vending point would read it;
 * undefined when there is none (all zeros: never written or cleared).
 */
async function gasReadingOnCard(os: VirtualReaderCard): Promise<OfflineReading | undefined> {
  const reader = new VirtualReader('inspection', os);
  const ch: CardChannel = await reader.connect();
  try {
    const fci = await expectOk(ch, A.selectAid(AID_PURSE), 'card SELECT');
    const n = findTlv(fci, 0xc2)!.indexOf(GAS) + 1;
    const r = OfflineReading.decode(await expectOk(ch, A.readOfflineReadings(n), 'card READ RECORD'));
    return r.isEmpty ? undefined : r;
  } finally {
    await ch.disconnect();
    reader.remove();
  }
}
type VirtualReaderCard = ConstructorParameters<typeof VirtualReader>[1];

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
