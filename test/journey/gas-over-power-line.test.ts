/**
 * Issue 17, the whole journey with every part real: the gas utility's own server (its own
 * database, only the gas purse's masters) sells gas over the electricity host's HTTP API (a real
 * listening server, a scoped 'utility' API key) → the host's relay carries the signed REMOTE LOAD
 * over a lossy power line (HostProtocol H = 57 through the meter's SAM) → the electricity meter's
 * card slot loads it onto the card's gas purse when the subscriber inserts the card → the receipt
 * comes back the same way and the utility books it → the card fills the offline gas meter (bound to
 * it by the utility's configuration, carried the same way) → gas flows until the valve closes →
 * the gas meter's signed readings (every tariff step) go back with the card through the
 * electricity meter to the utility, which verifies, stores and clears them. The host is restarted
 * (its database reopened) in the middle; the books balance at every step.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostKeyRing, SeededRng } from '../../card/crypto/index.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { OfflineReading, verifyOfflineReading } from '../../card/applets/purse/offline.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { MeterModem } from '../../meter/modem/MeterModem.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { PowerLineField } from '../../host/network/PowerLineField.js';
import { RelayService } from '../../host/relay/RelayService.js';
import { hostProtocolRelayLink } from '../../host/relay/hostProtocolRelayLink.js';
import { HttpRelayPort } from '../../host/utility/RelayPort.js';
import { UtilityServer } from '../../host/utility/UtilityServer.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';
import { A, ok } from '../applets/harness.js';
import { open } from '../host/apiHarness.js';
import { CSN, cipher, newMeter, purseBalance, subscriber } from '../meter/cardWorld.js';

const SEED = 'journey';
const ELEC = '00E001';
const GAS_METER = '00A456';
const OTHER_GAS_METER = '00A457';
const GAS = 2;
const CSN_HEX = toHex(CSN).toUpperCase();

async function world() {
  const issuer = IssuerKeys.demo(cipher, SEED);
  // The gas utility holds its own purse's masters only.
  const gasKeys = new IssuerKeys(cipher, [[GAS, issuer.utility(GAS)]]);
  // The electricity meter, on the power line.
  const elec = await newMeter({ issuer, meterId: fromHex(ELEC), svmMax: 1_000_000, seed: `${SEED}:elec` });
  const modem = new MeterModem(elec);
  const ring = HostKeyRing.of(issuer.utility(1).host);
  const field = new PowerLineField({ latencyMs: [5, 40], loss: 0.15, duplicate: 0.1, corrupt: 0.02 }, 500);
  field.attach(ELEC, { as: 0, ls: 1, modem: 1, keyVersion: ring.current! }, modem);
  // The offline gas meter (its own SAM + SVM of the gas utility), 1.10 per m³, and a second one.
  const gasMeter = (id: string) =>
    newMeter({
      issuer,
      meterId: fromHex(id),
      seed: `${SEED}:gas:${id}`,
      meter: { commodity: 'gas', tariff: TariffTable.flat(110) },
    });
  const gas = await gasMeter(GAS_METER);
  const otherGas = await gasMeter(OTHER_GAS_METER);
  // The subscriber's card: electricity and gas purses, nothing on the gas purse yet.
  const card = subscriber(issuer, {
    seed: SEED,
    purses: [
      { id: 1, balance: 2_000, max: 1_000_000, limit: 1_000_000, unit: 978 },
      { id: GAS, balance: 0, max: 1_000_000, limit: 1_000_000, unit: 978 },
    ],
  });
  return { issuer, gasKeys, elec, modem, ring, field, gas, otherGas, card };
}

describe('issue 17: gas bought over the API reaches the gas meter through the power line and the card', () => {
  it('sale → lossy power line → electricity meter slot → card → gas meter → valve; readings back; books balance', async () => {
    const w = await world();
    const dir = mkdtempSync(join(tmpdir(), 'journey-'));
    // ---- the electricity host: subscriber, meter, card; a real HTTP server
    let host = open({ seed: SEED, dir });
    const sub = host.svc.addSubscriber({ name: 'journey' });
    host.svc.addMeter({ id: ELEC, subscriberId: sub, as: 0, ls: 1, modem: 1 });
    host.svc.addCard({ serial: CSN_HEX, subscriberId: sub });
    let url = await host.app.listen({ port: 0, host: '127.0.0.1' });
    const keyRes = await fetch(new URL('/relay/keys', url), {
      method: 'POST',
      headers: { ...host.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ purse: GAS, name: 'gas utility' }),
    });
    expect(keyRes.status).toBe(201);
    const gasApiKey = ((await keyRes.json()) as { key: string }).key;
    const protocol = new HostProtocol(cipher, new SeededRng(`${SEED}:host`), () => w.ring);
    const meters = {
      ref: (id: string) => ({ id: fromHex(id), keyVersion: w.ring.current! }),
      terminal: (id: string) => w.field.terminal(id),
    };
    let relay = new RelayService(host.svc.db, hostProtocolRelayLink(protocol, meters));
    /** Relay rounds until `done` (the lossy line fails some sessions; a failed round is retried). */
    const relayUntil = async (done: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 60; i++) {
        if (await done()) return i;
        await relay.relayOnce();
      }
      throw new Error(`relay never got there: ${what}`);
    };

    // ---- the gas utility's server, its own database, talking HTTP to the host
    const utility = new UtilityServer({
      db: new UtilityDb(join(dir, 'gas-utility.db')),
      issuer: w.gasKeys,
      purse: GAS,
      relay: new HttpRelayPort(url, gasApiKey),
      clock: () => Date.UTC(2026, 10, 23, 10, 0, 0),
      sellerId: fromHex('47415331'),
    });

    // 1. The subscriber buys 50.00 of gas; the utility binds the card's gas purse to its gas meter.
    const sale = await utility.sell(CSN, 5_000, 'order-1');
    expect(sale.seq).toBe(1);
    const cfg = await utility.configure(CSN, {
      meterId: GAS_METER,
      emergencyLimit: 300,
      unitCharge: 120,
      blacklistVersion: 4,
    });
    expect(cfg.version).toBe(1);
    expect(utility.balanceCheck()).toMatchObject({
      sold: 5_000,
      inTransit: 5_000,
      onCard: 0,
      balanced: true,
    });

    // 2. The relay carries both to the electricity meter over the lossy line.
    await relayUntil(() => w.elec.slot.commands.queuedIds().length === 2, 'commands queued in the meter');

    // The host is restarted (database closed and reopened) while the meter holds the commands.
    await host.app.close();
    host.svc.close();
    host = open({ seed: SEED, dir });
    url = await host.app.listen({ port: 0, host: '127.0.0.1' });
    relay = new RelayService(host.svc.db, hostProtocolRelayLink(protocol, meters));
    // (the utility keeps talking to the same host, now at a new address)
    const utility2 = new UtilityServer({
      db: utility.db,
      issuer: w.gasKeys,
      purse: GAS,
      relay: new HttpRelayPort(url, gasApiKey),
      clock: () => Date.UTC(2026, 10, 23, 10, 0, 0),
      sellerId: fromHex('47415331'),
    });

    // 3. The card in the electricity meter's slot: the gas load and the configuration land.
    const before = purseBalance(w.card, GAS);
    const o1 = await w.elec.slot.insert(w.card.os);
    w.elec.slot.remove();
    expect(o1.accepted).toBe(true);
    expect(purseBalance(w.card, GAS)).toBe(before + 5_000);
    expect(w.elec.slot.commands.queuedIds()).toEqual([]);

    // 4. The receipt goes back; the utility books the sale on the card (verified receipt).
    await relayUntil(async () => {
      await utility2.poll();
      return utility2.sale('order-1')?.state === 'on-card';
    }, 'receipt booked');
    expect(utility2.balanceCheck()).toMatchObject({
      sold: 5_000,
      inTransit: 0,
      onCard: 5_000,
      balanced: true,
    });

    // 5. Another gas meter refuses the card: it is bound to GAS_METER. Nothing moves.
    const o2 = await w.otherGas.slot.insert(w.card.os);
    w.otherGas.slot.remove();
    expect(o2.refusal).toBe('bound-to-another-meter');
    expect(purseBalance(w.card, GAS)).toBe(before + 5_000);

    // 6. Its own gas meter applies the configuration and takes the gas purse.
    const o3 = await w.gas.slot.insert(w.card.os);
    w.gas.slot.remove();
    expect(o3.accepted).toBe(true);
    expect(o3.config?.kind).toBe('applied');
    expect(o3.amount).toBe(5_000);
    expect(purseBalance(w.card, GAS)).toBe(0);
    expect(w.gas.meter.exchanger.emergencyCredit).toBe(300);

    // 7. Gas flows until the credit is gone and the valve closes.
    let minutes = 0;
    while (w.gas.meter.supply.connected && minutes < 60 * 24 * 60) {
      const q = minutes % 60 < 15 ? 3_333 : 0;
      if (w.gas.meter.step(w.gas.meter.now + 60, q)) await w.gas.meter.service();
      minutes++;
    }
    expect(w.gas.meter.supply.connected).toBe(false);
    // 50.00 + 3.00 emergency credit at 1.20 per m³ (the configured price, not the meter's 1.10)
    expect(w.gas.meter.exchanger.charged).toBeGreaterThanOrEqual(5_000);
    expect(w.gas.meter.exchanger.charged).toBeLessThanOrEqual(5_300 + 120);

    // 8. The subscriber brings the card back to the gas meter (nothing to take); it writes readings.
    const o4 = await w.gas.slot.insert(w.card.os);
    w.gas.slot.remove();
    expect(o4.readings?.written).toBe(true);
    const readCardReadings = () => {
      w.card.os.powerUp();
      ok(w.card.os, A.selectAid());
      const r = ok(w.card.os, A.readOfflineReadings(2)); // gas = the FCI's 2nd purse
      w.card.os.powerDown();
      return r;
    };
    const rec = readCardReadings();
    const reading = OfflineReading.decode(rec);
    expect(toHex(reading.meterId)).toBe(GAS_METER);
    expect(reading.unitCharge).toBe(120);
    expect(reading.configVersion).toBe(1);
    expect(verifyOfflineReading(w.gasKeys, CSN, rec)).toBe(true);

    // 9. At the electricity meter the readings are collected and go up the line to the utility,
    //    which verifies and stores them and sends CLEAR READINGS back down.
    const o5 = await w.elec.slot.insert(w.card.os);
    w.elec.slot.remove();
    expect(o5.accepted).toBe(true);
    await relayUntil(async () => {
      await utility2.poll();
      return utility2.db.readingsOf(GAS_METER).length > 0;
    }, 'reading stored at the utility');
    const stored = utility2.db.readingsOf(GAS_METER);
    expect(stored).toHaveLength(1);
    await relayUntil(() => w.elec.slot.commands.queuedIds().length === 1, 'CLEAR READINGS queued');
    await w.elec.slot.insert(w.card.os);
    w.elec.slot.remove();
    expect(readCardReadings().every((b) => b === 0)).toBe(true);

    // The books still balance; value conserved: bought = charged by the gas meter − emergency owed.
    expect(utility2.balanceCheck()).toMatchObject({ sold: 5_000, onCard: 5_000, balanced: true });
    const owed = w.gas.meter.exchanger.emergencyOwed;
    expect(w.gas.meter.exchanger.charged - owed).toBeLessThanOrEqual(5_000 + 120);
    await host.app.close();
    host.svc.close();
    utility2.db.close();
  }, 120_000);
});
