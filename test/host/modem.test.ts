/**
 * The host's commands against REAL meters: each meter is a meter core with its own SAM and SVM
 * applets (in virtual readers), reached through its own modem (meter/modem) on the host's lossy
 * power-line network — the field `meterpurse host serve --meters real` runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { toHex } from '../../card/util/hex.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { CardMeterField, wallClock } from '../../cli/field/cardMeterField.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import { TariffTable } from '../../protocol/TariffTable.js';
import { FLAG_COVER_OPEN, FLAG_LOAD_VOLTAGE_RELAY_OPEN, FLAG_RELAY_OPEN } from '../../protocol/constants.js';
import { encodeTxId, parseTxId } from '../../protocol/TxId.js';

const cipher = new NodeCipherProvider();
const issuer = IssuerKeys.demo(cipher, 'modem-field');
const CARD = '4111111111111111';
const START = RtcTime.of(2026, 6, 1, 12, 0, 0);

const dirs: string[] = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function host(
  start?: RtcTime,
  channel = { loss: 0.1, duplicate: 0.1, corrupt: 0.03, latencyMs: [5, 60] as [number, number] },
) {
  const dir = mkdtempSync(join(tmpdir(), 'host-modem-'));
  dirs.push(dir);
  const field = new CardMeterField({
    issuer,
    ...(start ? { start } : {}),
    seed: 'modem-field',
    channelOptions: channel,
  });
  const svc = new HostService({
    db: new HostDb(join(dir, 'host.db')),
    cipher,
    rng: new SeededRng('modem-host'),
    gateway: new SimulatedPaymentGateway(),
    field: () => field,
    // the key ceremony: the host holds the KH versions the meters' SAMs were made with
    initialKeys: issuer.utility(1).host,
  });
  closers.push(() => svc.close());
  const sub = svc.addSubscriber({ name: 'real meters' });
  return { svc, field, sub };
}

describe('host → power line → meter modem → SAM, SVM and meter core', () => {
  it('value store: exactly once into the SVM, the core entered it under the same TxId', async () => {
    const { svc, field, sub } = host(START);
    svc.addMeter({ id: 'BA0001', subscriberId: sub, as: 0, ls: 1, modem: 1 });
    const r = await svc.recharge({
      requestId: 'r-1',
      meterId: 'BA0001',
      amount: 5000,
      method: 'card',
      account: CARD,
    });
    expect(r).toMatchObject({ state: 'confirmed', outcome: 'confirmed' });
    const cm = await field.meter('BA0001');
    // value reached the meter once: in its SVM or drawn by the core as tokens
    expect((await cm.svmBalance()) + cm.meter.exchanger.drawn).toBe(5000);
    expect(cm.meter.exchanger.drawn).toBeGreaterThan(0);
    expect(cm.meter.transferState).toBe('done');
    // the next meter data written onto a card names the host transaction: kind 02, its 8 bytes
    const tx = parseTxId(r.txId);
    expect(cm.slot.lastReference.kind).toBe(2);
    expect(toHex(cm.slot.lastReference.ref)).toBe(`${toHex(encodeTxId(tx))}0000`);
    const again = await svc.recharge({
      requestId: 'r-1',
      meterId: 'BA0001',
      amount: 5000,
      method: 'card',
      account: CARD,
    });
    expect(again).toMatchObject({ txId: r.txId, outcome: 'repeated' });
    expect((await cm.svmBalance()) + cm.meter.exchanger.drawn).toBe(5000);
  });

  it('poll: real log, energy, tamper flags, balance and drift; a fast clock is set back with an event', async () => {
    const { svc, field, sub } = host(START);
    svc.addMeter({ id: 'BA0002', subscriberId: sub, as: 0, ls: 1, modem: 2, initialBalance: 20_000 });
    const cm = await field.meter('BA0002');
    // one hour of 1 kW with the terminal cover opened half-way
    for (let i = 0; i < 60; i++)
      await cm.meter.advance(cm.meter.now + 60, 16_667, i === 30 ? { coverOpen: true } : undefined);
    const fast = cm.meter.now;
    const hostNow = RtcTime.fromSeconds(fast - 90); // the meter runs 90 s fast
    const p = await svc.poll('BA0002', hostNow);
    expect(p.driftSeconds).toBe(90);
    expect(p.energyWh).toBe(Math.floor(cm.meter.total / 1000));
    expect(p.energyWh).toBe(1000);
    expect(p.flags).toBe(FLAG_COVER_OPEN);
    expect(p.balance).toBe(await cm.svmBalance());
    expect(p.balance + cm.meter.exchanger.drawn).toBe(20_000);
    // the backup holds the meter's own consumption log (a clock set back does not rewind it)
    const row = svc.db.db.prepare('SELECT log FROM usage_backups ORDER BY id DESC LIMIT 1').get() as {
      log: Buffer;
    };
    expect(toHex(Uint8Array.from(row.log))).toBe(toHex(cm.meter.log.encode()));
    // set back, recorded
    expect(cm.meter.now).toBe(hostNow.seconds);
    const back = cm.meter.events.entries().filter((e) => e.kind === 'clock-set-back');
    expect(back).toEqual([{ at: hostNow.seconds, kind: 'clock-set-back', data: 90 }]);
    // metering goes on from the corrected clock; nothing metered is lost
    await cm.meter.advance(cm.meter.now + 60, 1_000_000);
    const p2 = await svc.poll('BA0002', RtcTime.fromSeconds(cm.meter.now + 30));
    expect(p2.driftSeconds).toBe(-30);
    expect(p2.energyWh).toBe(2000);
  });

  it('tariff change: the core loads the table for its activation time and it takes effect then', async () => {
    const { svc, field, sub } = host(START);
    svc.addMeter({ id: 'BA0003', subscriberId: sub, as: 0, ls: 1, modem: 3, initialBalance: 10_000 });
    const cm = await field.meter('BA0003');
    const before = cm.meter.schedule.active.encode();
    const t = await svc.changeTariff('BA0003', '260601130000', 130, 'flat');
    expect(t.state).toBe('stored');
    expect(t.balance).toBe(await cm.svmBalance());
    // pending until 13:00, then in force
    expect(cm.meter.schedule.active.encode()).toEqual(before);
    expect(cm.meter.schedule.pending?.table.encode()).toEqual(TariffTable.flat(130).encode());
    expect(cm.meter.events.entries().some((e) => e.kind === 'tariff-loaded')).toBe(true);
    for (let i = 0; i < 61; i++) await cm.meter.advance(cm.meter.now + 60, 1000);
    expect(cm.meter.schedule.active.encode()).toEqual(TariffTable.flat(130).encode());
    // the host's poll sees the assigned table in force: no mismatch
    await svc.poll('BA0003', cm.meter.time);
    expect(
      svc.db.db.prepare("SELECT COUNT(*) AS n FROM events WHERE kind = 'tariff-mismatch'").get(),
    ).toEqual({ n: 0 });
  });

  it('theft report per LS over real meters: load voltage with the relay open is flagged', async () => {
    const { svc, field, sub } = host(undefined, { loss: 0, duplicate: 0, corrupt: 0, latencyMs: [5, 20] });
    svc.addMeter({ id: 'BA0501', subscriberId: sub, as: 0, ls: 5, modem: 1, initialBalance: 50_000 });
    svc.addMeter({ id: 'BA0502', subscriberId: sub, as: 0, ls: 5, modem: 2, initialBalance: 50_000 });
    svc.addMeter({ id: 'BA0503', subscriberId: sub, as: 0, ls: 5, modem: 3 }); // no credit: relay open
    const base = await svc.theftReport(0, 5, 0);
    expect(base).toMatchObject({ feederFlagged: false, metersWh: 0 });
    const [a, b, c] = await Promise.all(['BA0501', 'BA0502', 'BA0503'].map((id) => field.meter(id)));
    expect(c!.meter.supply.connected).toBe(false);
    for (const m of [a!, b!]) await m.meter.advance(m.meter.now + 3600, 1_000_000);
    // someone feeds the load side of the cut-off meter (a bypass around the open relay)
    await c!.meter.advance(c!.meter.now + 60, 0, { loadSideVoltage: true });
    const r = await svc.theftReport(0, 5, 2600);
    expect(r).toMatchObject({
      ls: 5,
      feederWh: 2600,
      metersWh: 2000,
      unaccountedWh: 600,
      feederFlagged: true,
    });
    expect(r.meters).toEqual([{ meterId: 'BA0503', reasons: ['load voltage while the relay is open'] }]);
    const p = await svc.poll('BA0503', wallClock());
    expect(p.flags).toBe(FLAG_LOAD_VOLTAGE_RELAY_OPEN | FLAG_RELAY_OPEN);
  });
});
