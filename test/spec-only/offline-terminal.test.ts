/**
 * Issue 17: "a meter maker implements the terminal side from our spec alone". Everything below is
 * built from docs/purse-spec.md (§1–§4, §13) and docs/host-protocol.md "Card commands (H = 57)"
 * only: crypto with node:crypto (./crypto.ts), terminals over raw APDUs (./terminal.ts). From the
 * project it takes only the chips (makeSubscriberCard / makeSam), the demo masters and a cipher
 * for IssuerKeys.demo, and talks to the chips through `os.transmit` alone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeSam, makeSubscriberCard } from '../../card/applets/profiles.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import {
  ascii,
  cat,
  clearMacInput,
  configBody,
  configMeterMacInput,
  configRecord,
  diversify,
  hex,
  kCredit,
  kOffline,
  kRemote,
  kTerminal,
  mac,
  oddParity,
  putConfigData,
  putConfigMacInput,
  readingsBody,
  readingsMac,
  readingsMacInput,
  remoteLoadData,
  remoteLoadMacInput,
  remoteReceipt,
  remoteReceiptInput,
  tdesEcb,
  toHex,
  u32,
  type OfflineConfig,
  type Readings,
  type RemoteLoad,
} from './crypto.js';
import {
  apdu,
  clearReadings,
  OfflineMeterTerminal,
  putConfig,
  readPurse,
  readReadings,
  remoteLoad,
  selectCard,
  selectSam,
  send,
  sfiP2,
  UtilityServer,
  type Chip,
} from './terminal.js';

// ---- the spec's executed examples ----

const SPEC = readFileSync(new URL('../../docs/purse-spec.md', import.meta.url), 'utf8');

function block(marker: string): string {
  const at = SPEC.indexOf(`<!-- ${marker} -->`);
  if (at < 0) throw new Error(`no block ${marker}`);
  const start = SPEC.indexOf('```', at);
  const body = SPEC.indexOf('\n', start) + 1;
  return SPEC.slice(body, SPEC.indexOf('```', body));
}
function values(marker: string): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (const line of block(marker).split('\n')) {
    const eq = line.lastIndexOf(' = ');
    if (eq > 0) m.set(line.slice(0, eq).trim(), hex(line.slice(eq + 3)));
  }
  return m;
}
const v = (marker: string, name: string): Uint8Array => {
  const x = values(marker).get(name);
  if (!x) throw new Error(`${marker}: no value "${name}"`);
  return x;
};
/** The block's exchanges: [device, command, response]. */
function exchanges(marker: string): [string, Uint8Array, Uint8Array][] {
  const lines = block(marker)
    .split('\n')
    .filter((l) => l.trim());
  const out: [string, Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const [dev, cmd] = lines[i]!.split('> ');
    const [dev2, rsp] = lines[i + 1]!.split('< ');
    expect(dev2).toBe(dev);
    out.push([dev!, hex(cmd!), hex(rsp!)]);
  }
  return out;
}

// ---- the chips (the only project code used) ----

const cipher = new NodeCipherProvider();
const issuer = IssuerKeys.demo(cipher, 'purse-spec');
const GAS = 0x02;
const CSN1 = hex('4D50000000000001');
const CSN2 = hex('4D50000000000002');
const GAS_METER = hex('000456');
const GAS_TID = hex('00000456');
const DT = hex('261122083000');
const SELLER = ascii('GAS1');

/** An Rng that answers the scripted 8-byte challenges in turn, and counts otherwise. */
function scripted(...challenges: Uint8Array[]) {
  let c = 0;
  return {
    bytes(n: number): Uint8Array {
      const next = challenges.shift();
      if (n === 8 && next) return next.slice();
      return Uint8Array.from({ length: n }, () => ++c & 0xff);
    },
  };
}

/** The example card: five purses, 100.00 each, max 5000.00, limit 1000.00, EUR cents (read from §13.2's READ PURSE). */
function newCard(csn = CSN1, balance = 10_000, rngChallenges: Uint8Array[] = []) {
  return makeSubscriberCard(issuer, {
    csn,
    purses: [1, 2, 3, 4, 5].map((id) => ({ id, balance, max: 500_000, limit: 100_000, unit: 978 })),
    rng: scripted(...rngChallenges),
  });
}
function newGasSam(meterId = GAS_METER, rngChallenges: Uint8Array[] = []) {
  return makeSam(issuer, {
    meterId,
    terminalId: cat([0], meterId),
    purse: GAS,
    rng: scripted(...rngChallenges),
  });
}
/** Powers the chip up (the brief's "os.transmit only" needs this one more call) and checks its ATR. */
function chip(d: { os: { powerUp(): Uint8Array; transmit(b: Uint8Array): Uint8Array } }, atr: string): Chip {
  expect(toHex(d.os.powerUp())).toBe(atr);
  return { transmit: (b) => d.os.transmit(b) };
}
const ATR_CARD = '3B 8A 01 80 F8 F0 4D 50 55 52 53 45 01 0E'; // §3, T=1 profile
const ATR_SAM = '3B 89 01 80 F7 F0 4D 50 53 41 4D 01 4C'; // §4

const gasMasters = issuer.utility(GAS);
const server = () => new UtilityServer(GAS, gasMasters.credit, new Map(gasMasters.host), SELLER);

const exampleConfig: OfflineConfig = {
  meterId: GAS_METER,
  purse: GAS,
  version: 1,
  issued: DT,
  emergencyLimit: 500,
  unitCharge: 110,
  blacklistVersion: 7,
  ktVersion: 1,
};
const exampleReadings: Readings = {
  meterId: GAS_METER,
  purse: GAS,
  seq: 1,
  dateTime: DT,
  cumulative: 24_000,
  sinceCredit: 24_000,
  emergencyUsed: 0,
  unitCharge: 110,
  configVersion: 1,
  events: 0,
  steps: [9000, 6000, 1000, 6000, 2000],
  percents: [50, 75, 100, 200, 300],
  ktVersion: 1,
};

describe('utility-side crypto from §1, §2 and §13.1 against the spec values', () => {
  it('node:crypto TDES and the MAC: ISO/IEC 9797-1 alg. 1 is the CBC chain of TDES, padding 80 00..', () => {
    const k = hex('0123456789ABCDEF FEDCBA9876543210');
    const m = ascii('abcdefgh');
    // one full block of input still gets a whole padding block (method 2)
    const c1 = tdesEcb(k, m);
    const c2 = tdesEcb(
      k,
      hex('8000000000000000').map((b, i) => b ^ c1[i]!),
    );
    expect(mac(k, m)).toEqual(c2);
    // Single-DES FIPS 81 / SP 800-17 known answer: K1 = K2 makes TDES single DES.
    const des = hex('0123456789ABCDEF 0123456789ABCDEF');
    expect(toHex(tdesEcb(des, ascii('Now is t')))).toBe('3F A4 0E 8A 98 4D 48 15');
  });

  it('odd parity sets each low bit so every byte has an odd number of ones', () => {
    expect(oddParity(hex('00 01 FE FF 80 7F'))).toEqual(hex('01 01 FE FE 80 7F'));
  });

  it('§2 masters and card keys of the demo issuer', () => {
    const u1 = issuer.utility(1);
    expect(u1.credit).toEqual(v('example:keys', 'MK_credit[01]'));
    expect(kCredit(u1.credit, CSN1)).toEqual(v('example:keys', 'K_credit[01]'));
    expect(diversify(u1.auth, CSN1)).toEqual(v('example:keys', 'K_auth[01]'));
    expect(diversify(issuer.utility(2).auth, CSN1)).toEqual(
      v('example:keys', 'K_auth[02] (the gas purse: another utility, another key)'),
    );
    const kSvm = diversify(u1.svm, cat(hex('000123'), [0, 1]));
    expect(kSvm).toEqual(v('example:keys', 'K_svm'));
    expect(diversify(kSvm, ascii('CORE'))).toEqual(v('example:keys', 'K_core = diversify(K_svm, "CORE")'));
    for (const [name, mk] of [
      ['auth', u1.auth],
      ['debit', u1.debit],
      ['proof', u1.proof],
    ] as const) {
      expect(mk, name).toEqual(v('example:keys', `MK_${name}[01]`));
      expect(diversify(mk, CSN1), name).toEqual(v('example:keys', `K_${name}[01]`));
    }
    expect(u1.commission).toEqual(v('example:keys', 'MK_comm[01]'));
  });

  it('§13.2 K_credit[02], K_remote[02], the REMOTE LOAD MAC and the receipt', () => {
    const b = 'offline:remote-load-values';
    expect(gasMasters.credit).toEqual(v(b, 'MK_credit[02]'));
    expect(kCredit(gasMasters.credit, CSN1)).toEqual(v(b, 'K_credit[02] = diversify(MK_credit[02], CSN)'));
    const kr = kRemote(gasMasters.credit, CSN1);
    expect(kr).toEqual(v(b, 'K_remote[02] = diversify(K_credit[02], "REMOTE")'));
    const load: RemoteLoad = { purse: GAS, seq: 1, amount: 5000, sellerId: SELLER, dateTime: DT };
    expect(remoteLoadMacInput(CSN1, load)).toEqual(v(b, 'REMOTE LOAD MAC input'));
    expect(mac(kr, remoteLoadMacInput(CSN1, load))).toEqual(v(b, "MAC = MAC(K_remote[02], 'R' ‖ …)"));
    expect(remoteReceiptInput(CSN1, load)).toEqual(v(b, 'receipt input'));
    expect(remoteReceipt(kr, CSN1, load)).toEqual(v(b, "receipt = MAC(K_remote[02], 'A' ‖ …)"));
  });

  it('§13.3 KT[1], K_offline, the meter MAC and the PUT CONFIG card MAC', () => {
    const b = 'offline:put-config-values';
    const kh1 = new Map(gasMasters.host).get(1)!;
    expect(kh1).toEqual(v(b, 'KH[02][1]'));
    expect(kTerminal(kh1, GAS_METER)).toEqual(v(b, 'KT[1] = diversify(KH[02][1], meter id 00 04 56)'));
    const ko = kOffline(kh1, GAS_METER);
    expect(ko).toEqual(v(b, 'K_offline = diversify(KT[1], "OFFLINE")'));
    expect(configMeterMacInput(CSN1, configBody(exampleConfig))).toEqual(
      v(b, "meter MAC input ('C' ‖ CSN ‖ config bytes 0..27)"),
    );
    const rec = configRecord(ko, CSN1, exampleConfig);
    expect(putConfigMacInput(CSN1, rec)).toEqual(v(b, "card MAC input ('W' ‖ CSN ‖ config)"));
    expect(putConfigData(kRemote(gasMasters.credit, CSN1), CSN1, rec).subarray(36)).toEqual(
      v(b, "card MAC = MAC(K_remote[02], 'W' ‖ …)"),
    );
  });

  it('§13.4 the readings MAC and §13.5 the CLEAR READINGS MAC input', () => {
    const ko = kOffline(new Map(gasMasters.host).get(1)!, GAS_METER);
    const body = readingsBody(exampleReadings);
    expect(readingsMacInput(CSN1, body)).toEqual(
      v('offline:readings-values', "reading MAC input ('M' ‖ CSN ‖ record bytes 0..134)"),
    );
    const rm = readingsMac(ko, CSN1, body);
    expect(rm).toEqual(v('offline:readings-values', "reading MAC = MAC(K_offline, 'M' ‖ …)"));
    expect(clearMacInput(CSN1, GAS, rm)).toEqual(
      v('offline:clear-readings-values', "CLEAR READINGS MAC input ('X' ‖ CSN ‖ purse ‖ reading MAC)"),
    );
  });
});

describe('§13 executed examples: my bytes are the spec’s, and the chips answer as the spec shows', () => {
  const card = newCard(CSN1, 10_000, [hex('39 50 03 E5 4C 88 F8 CF')]);
  const gsam = newGasSam(GAS_METER, [hex('63 D6 BD 70 FA D2 87 A6')]);
  const c = chip(card, ATR_CARD);
  const s = chip(gsam, ATR_SAM);
  const util = server();

  /** Builds each command myself, asserts it equals the spec line, then asserts the chip's answer. */
  function replay(marker: string, build: ((spec: Uint8Array) => Uint8Array)[]) {
    const xs = exchanges(marker);
    expect(xs.length).toBe(build.length);
    xs.forEach(([dev, cmd, rsp], i) => {
      const mine = build[i]!(cmd);
      expect(toHex(mine), `${marker} #${i} command`).toBe(toHex(cmd));
      const got = (dev === 'gsam' ? s : c).transmit(mine);
      expect(toHex(got), `${marker} #${i} answer`).toBe(toHex(rsp));
    });
  }

  it('REMOTE LOAD (applied, already applied, 9409) and the log record of type 03', () => {
    const l1 = util.sell(CSN1, 5000, DT);
    util.sell(CSN1, 1, DT); // seq 2 sold, not delivered
    const l3 = util.sell(CSN1, 700, DT);
    replay('offline:remote-load', [
      () => apdu(0x00, 0xa4, 0x04, 0x00, hex('F04D505552534501'), 0x00),
      () => apdu(0x80, 0x5c, 0x00, GAS, undefined, 0x00),
      () => apdu(0x80, 0x56, 0x00, GAS, l1.data, 0x00),
      () => apdu(0x80, 0x56, 0x00, GAS, l1.data, 0x00),
      () => apdu(0x80, 0x56, 0x00, GAS, l3.data, 0x00),
      () => apdu(0x00, 0xb2, 0x01, sfiP2(1), undefined, 0x00),
    ]);
  });

  it('PUT CONFIG twice (9407), READ RECORD SFI 03, SAM CONFIG CHECK', () => {
    const put = util.config(CSN1, exampleConfig);
    replay('offline:put-config', [
      () => apdu(0x80, 0x58, 0x00, GAS, put),
      () => apdu(0x80, 0x58, 0x00, GAS, put),
      () => apdu(0x00, 0xb2, 0x02, sfiP2(3), undefined, 0x00),
      () => apdu(0x00, 0xa4, 0x04, 0x00, hex('F04D5053414D01'), 0x00),
      () => apdu(0x80, 0x1c, 0x00, 0x00, cat(CSN1, put.subarray(0, 36))),
    ]);
  });

  it('readings: AUTH (with my own S_sam / S_card for purse 02), SIGN READINGS, UPDATE RECORD SFI 04', () => {
    const rc = hex('39 50 03 E5 4C 88 F8 CF');
    const rs = hex('63 D6 BD 70 FA D2 87 A6');
    // §2 / §3.4 session keys of purse 02 from MK_auth[02], checked against the SAM and card bytes.
    const skAuth = oddParity(tdesEcb(diversify(issuer.utility(GAS).auth, CSN1), cat(rc, rs)));
    const sSam = mac(skAuth, cat(rc, rs, CSN1));
    const sCard = mac(skAuth, cat(rs, rc, CSN1));
    const body = readingsBody(exampleReadings);
    const rm = readingsMac(kOffline(new Map(gasMasters.host).get(1)!, GAS_METER), CSN1, body);
    const rec = cat(body, rm, [0]);
    replay('offline:readings', [
      () => apdu(0x00, 0x84, 0x00, 0x00, undefined, 0x08),
      () => apdu(0x80, 0x10, 0x00, 0x00, cat(CSN1, rc), 0x00),
      () => apdu(0x00, 0x82, 0x00, GAS, cat(rs, sSam), 0x08),
      () => apdu(0x80, 0x12, 0x00, 0x00, sCard),
      () => apdu(0x80, 0x1e, 0x00, 0x00, cat(CSN1, body), 0x00),
      () => apdu(0x00, 0xdc, 0x02, sfiP2(4), rec),
      () => apdu(0x00, 0xb2, 0x02, sfiP2(4), undefined, 0x00),
    ]);
  });

  it('CLEAR READINGS, the zeroed record, and 6985 for the second clear', () => {
    const rec = cat(
      readingsBody(exampleReadings),
      v('offline:readings-values', "reading MAC = MAC(K_offline, 'M' ‖ …)"),
      [0],
    );
    const clr = util.clear(CSN1, rec);
    replay('offline:clear-readings', [
      () => apdu(0x80, 0x5a, 0x00, GAS, clr),
      () => apdu(0x00, 0xb2, 0x02, sfiP2(4), undefined, 0x00),
      () => apdu(0x80, 0x5a, 0x00, GAS, clr),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// The terminal side, driven against fresh chips
// ---------------------------------------------------------------------------------------------

function rig(balance = 10_000) {
  const cardDev = newCard(CSN1, balance);
  const card = chip(cardDev, ATR_CARD);
  const samChip = chip(newGasSam(), ATR_SAM);
  const meter = new OfflineMeterTerminal(samChip);
  const info = selectCard(card);
  return { card, samChip, meter, info, util: server() };
}
const sw = (c: Chip, bytes: Uint8Array) => send(c, bytes).sw;
const loadCmd = (data: Uint8Array, p2 = GAS) => apdu(0x80, 0x56, 0x00, p2, data, 0x00);

describe('REMOTE LOAD: delivery in order, every status word §13.2 names', () => {
  it('a meter delivers loads queued out of order, plus a duplicate, in seq order: each credited once', () => {
    const { card, meter, info, util } = rig();
    const [a, b, c] = [util.sell(CSN1, 1000, DT), util.sell(CSN1, 2000, DT), util.sell(CSN1, 3000, DT)];
    [c, a, b, a].forEach((s, i) => meter.queue.push({ id: i + 1, csn: CSN1, purse: GAS, data: s.data }));
    const fates = meter.deliver(card, info, GAS);
    expect(fates.map((f) => f.kind)).toEqual(['applied', 'already', 'applied', 'applied']);
    expect(readPurse(card, GAS)).toMatchObject({ balance: 16_000, counter: 3 });
    expect(meter.queue).toHaveLength(0);
    // every answer carries a receipt the utility accepts, and only for its own load
    const byId = new Map(meter.outbox.map((o) => [o.id, o.fate]));
    const ans = (id: number) => (byId.get(id) as { answer: Uint8Array }).answer;
    expect(util.receiptGood(c, ans(1))).toBe(true);
    expect(util.receiptGood(a, ans(2))).toBe(true);
    expect(util.receiptGood(b, ans(3))).toBe(true);
    expect(util.receiptGood(a, ans(1))).toBe(false);
    expect(ans(2).subarray(7)).toEqual(ans(4).subarray(7)); // the duplicate's receipt is the same bytes
  });

  it('"already applied" reports the purse as it is now, not as the load left it (§13.2 does not say)', () => {
    const { card, util } = rig();
    const a = util.sell(CSN1, 1000, DT);
    const first = send(card, loadCmd(a.data));
    send(card, loadCmd(util.sell(CSN1, 2000, DT).data));
    const again = send(card, loadCmd(a.data));
    expect(again.data[0]).toBe(0x02);
    expect(again.data.subarray(7)).toEqual(first.data.subarray(7));
    // observed: balance 13000 / counter 2 (now), not 11000 / 1 (after the load): the "same bytes" are the receipt only
    expect(toHex(again.data.subarray(1, 7))).toBe(toHex(cat(u32(13_000), [0, 2])));
    expect(toHex(again.data.subarray(1, 7))).not.toBe(toHex(first.data.subarray(1, 7)));
  });

  it('9409: a load whose predecessor is missing waits, and goes through in the insertion that brings it', () => {
    const { card, meter, info, util } = rig();
    const a = util.sell(CSN1, 1000, DT);
    const b = util.sell(CSN1, 2000, DT);
    meter.queue.push({ id: 7, csn: CSN1, purse: GAS, data: b.data });
    expect(meter.deliver(card, info, GAS)).toEqual([{ kind: 'waiting', sw: 0x9409, cause: 'later' }]);
    expect(meter.queue).toHaveLength(1);
    expect(readPurse(card, GAS).balance).toBe(10_000);
    meter.queue.push({ id: 8, csn: CSN1, purse: GAS, data: a.data });
    expect(meter.deliver(card, info, GAS).map((f) => f.kind)).toEqual(['applied', 'applied']);
    expect(readPurse(card, GAS)).toMatchObject({ balance: 13_000, counter: 2 });
  });

  it('a load for another card waits in the queue untouched while this card is in', () => {
    const { card, meter, info, util } = rig();
    meter.queue.push({ id: 1, csn: CSN2, purse: GAS, data: util.sell(CSN2, 1000, DT).data });
    expect(meter.deliver(card, info, GAS)).toEqual([]);
    expect(meter.queue).toHaveLength(1);
  });

  it('9402 at the maximum (and one past it): kept, and applied once the subscriber has spent', () => {
    const { card, samChip, meter, info, util } = rig(499_000);
    const exact = util.sell(CSN1, 1000, DT); // balance + amount = max: allowed
    const over = util.sell(CSN1, 1, DT); // one past the maximum
    meter.queue.push(
      { id: 1, csn: CSN1, purse: GAS, data: exact.data },
      { id: 2, csn: CSN1, purse: GAS, data: over.data },
    );
    expect(meter.deliver(card, info, GAS)).toEqual([
      expect.objectContaining({ kind: 'applied', balance: 500_000 }),
      { kind: 'waiting', sw: 0x9402, cause: 'later' },
    ]);
    // the subscriber spends 10.00 at the gas meter: a DEBIT authorised by the gas SAM (§3.6, §4 TRANSFER AUTH)
    meter.authenticate(card, info);
    const before = readPurse(card, GAS);
    const rv = hex('0102030405060708');
    // §4 says "counter(2)" without saying current or next; the chip wants the next one (counter + 1, as §3.6's MAC)
    const auth = send(
      samChip,
      apdu(0x80, 0x14, 0x00, GAS, cat(u32(1000), [0, before.counter + 1], DT, rv), 0x00),
    );
    expect(auth.sw).toBe(0x9000);
    const debit = send(
      card,
      apdu(0x80, 0x54, 0x00, GAS, cat(u32(1000), GAS_TID, DT, rv, auth.data.subarray(0, 8)), 0x00),
    );
    expect(debit.sw).toBe(0x9000);
    expect(meter.deliver(card, info, GAS)).toEqual([
      expect.objectContaining({ kind: 'applied', balance: 500_000 - 1000 + 1 }),
    ]);
  });

  it('amount FFFFFFFF (the field maximum) is 9402, not a wrapped balance', () => {
    const { card, util } = rig();
    const big = util.sell(CSN1, 0xffffffff, DT);
    expect(sw(card, loadCmd(big.data))).toBe(0x9402);
    expect(readPurse(card, GAS).balance).toBe(10_000);
  });

  it('a lost answer (card pulled after the commit): the re-delivery answers 02 with the same receipt, credited once', () => {
    const { card, meter, info, util } = rig();
    const a = util.sell(CSN1, 2500, DT);
    card.transmit(loadCmd(a.data)); // committed, answer lost on the way
    meter.queue.push({ id: 1, csn: CSN1, purse: GAS, data: a.data });
    const [f] = meter.deliver(card, info, GAS);
    expect(f).toMatchObject({ kind: 'already', balance: 12_500, counter: 1 });
    expect(util.receiptGood(a, (f as { answer: Uint8Array }).answer)).toBe(true);
  });

  it('what the MAC binds: amount, seq, card, purse, seller, time, key; and the plain refusals', () => {
    const { card, meter, info, util } = rig();
    const a = util.sell(CSN1, 1000, DT);
    const flip = (i: number) => a.data.map((b, j) => (j === i ? b ^ 0x01 : b));
    for (const i of [0, 3, 4, 7, 8, 11, 12, 17, 18, 25])
      expect(sw(card, loadCmd(flip(i))), `byte ${i}`).toBe(0x6300);
    expect(sw(card, loadCmd(a.data, 0x03))).toBe(0x6300); // to the water purse
    // signed for card 2 and delivered to card 1
    expect(sw(card, loadCmd(util.sell(CSN2, 1000, DT).data))).toBe(0x6300);
    // signed by the electricity utility (its own MK_credit[01]) for the gas purse
    const elec = new UtilityServer(GAS, issuer.utility(1).credit, new Map(), SELLER).sell(CSN1, 1000, DT);
    expect(sw(card, loadCmd(elec.data))).toBe(0x6300);
    // the final refusals leave the queue, with their SW for the carrier
    meter.queue.push({ id: 9, csn: CSN1, purse: GAS, data: flip(5) });
    expect(meter.deliver(card, info, GAS)).toEqual([{ kind: 'refused', sw: 0x6300 }]);
    expect(meter.queue).toHaveLength(0);
    // properly signed but invalid fields: seq 0, amount 0, month 13
    const kr = kRemote(gasMasters.credit, CSN1);
    const signed = (l: Partial<RemoteLoad>) =>
      remoteLoadData(kr, CSN1, { purse: GAS, seq: 1, amount: 1, sellerId: SELLER, dateTime: DT, ...l });
    expect(sw(card, loadCmd(signed({ seq: 0 })))).toBe(0x6a80);
    expect(sw(card, loadCmd(signed({ amount: 0 })))).toBe(0x6a80);
    expect(sw(card, loadCmd(signed({ dateTime: hex('261322083000') })))).toBe(0x6a80);
    expect(sw(card, loadCmd(signed({ seq: 0xffffffff })))).toBe(0x9409); // seq at its maximum skips ahead
    expect(sw(card, loadCmd(a.data.subarray(0, 25)))).toBe(0x6700);
    expect(sw(card, apdu(0x80, 0x56, 0x01, GAS, a.data, 0x00))).toBe(0x6a86);
    expect(sw(card, loadCmd(a.data, 0x09))).toBe(0x6a88);
    expect(readPurse(card, GAS)).toMatchObject({ balance: 10_000, counter: 0 });
    expect(sw(card, loadCmd(a.data))).toBe(0x9000); // the genuine one still applies
  });

  it('the log record of type 03 carries the MAC under K_proof[02] with letter R and RV = seq ‖ 00000000', () => {
    const { card, util } = rig();
    const a = util.sell(CSN1, 5000, DT);
    send(card, loadCmd(a.data));
    const log = send(card, apdu(0x00, 0xb2, 0x01, sfiP2(1), undefined, 0x00)).data;
    expect(log.length).toBe(38);
    const kProof = diversify(gasMasters.proof, CSN1);
    const input = cat(ascii('R'), CSN1, [GAS], u32(5000), [0, 1], u32(15_000), SELLER, DT, u32(1), u32(0));
    expect(toHex(log.subarray(0, 30))).toBe(
      toHex(cat([0x03, GAS], u32(5000), u32(15_000), [0, 1], SELLER, DT, u32(1), u32(0))),
    );
    expect(log.subarray(30)).toEqual(mac(kProof, input));
  });

  it('REMOTE LOAD neither needs nor ends a SAM session (an open session still writes readings after it)', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    expect(sw(card, loadCmd(util.sell(CSN1, 1000, DT).data))).toBe(0x9000);
    const rec = meter.writeReadings(card, info, readingsBody(exampleReadings));
    expect(rec.length).toBe(144);
  });
});

describe('configuration: PUT CONFIG by the utility, CONFIG CHECK by the meter', () => {
  it('an authentic configuration for this meter is applied once; the same one again is not', () => {
    const { card, meter, info, util } = rig();
    expect(meter.checkConfig(card, info)).toEqual({ kind: 'none' });
    expect(putConfig(card, GAS, util.config(CSN1, exampleConfig))).toBe(0x9000);
    const v1 = meter.checkConfig(card, info);
    expect(v1.kind).toBe('authentic');
    expect(meter.applyIfNewer(v1)).toBe(true);
    expect(meter.applyIfNewer(meter.checkConfig(card, info))).toBe(false);
  });

  it('PUT CONFIG: old or equal version 9407, wrong card MAC 6300, format / purse 6A80, Lc 6700, P1 6A86, purse 6A88', () => {
    const { card, util } = rig();
    expect(putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, version: 5 }))).toBe(0x9000);
    expect(putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, version: 5 }))).toBe(0x9407);
    expect(putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, version: 4 }))).toBe(0x9407);
    const good = util.config(CSN1, { ...exampleConfig, version: 6 });
    expect(
      putConfig(
        card,
        GAS,
        good.map((b, i) => (i === 43 ? b ^ 1 : b)),
      ),
    ).toBe(0x6300);
    expect(putConfig(card, GAS, util.config(CSN2, { ...exampleConfig, version: 6 }))).toBe(0x6300);
    expect(putConfig(card, 0x03, good)).toBe(0x6a80); // purse byte 02 sent to purse 03
    const kr = kRemote(gasMasters.credit, CSN1);
    const fmt2 = cat([0x02], good.subarray(1, 36));
    expect(putConfig(card, GAS, putConfigData(kr, CSN1, fmt2))).toBe(0x6a80);
    expect(putConfig(card, GAS, good.subarray(0, 43))).toBe(0x6700);
    expect(sw(card, apdu(0x80, 0x58, 0x01, GAS, good))).toBe(0x6a86);
    expect(putConfig(card, 0x09, good)).toBe(0x6a88);
    // H = 57 delivers every command as `80 INS 00 P2 Lc data 00`: PUT CONFIG with Le = 00 is taken too
    expect(sw(card, apdu(0x80, 0x58, 0x00, GAS, good, 0x00))).toBe(0x9000);
  });

  it('PUT CONFIG version 0 is 6A80 (§13.3), and nothing is stored', () => {
    const { card, util } = rig();
    expect(putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, version: 0 }))).toBe(0x6a80);
    expect(send(card, apdu(0x00, 0xb2, 0x02, sfiP2(3), undefined, 0x00)).data.every((b) => b === 0)).toBe(
      true,
    );
  });

  it('CONFIG CHECK refuses a card bound to another meter, a forged meter MAC, an unknown KT version', () => {
    const { card, meter, info, util } = rig();
    // bound to meter 00 04 57, genuinely signed for it
    putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, meterId: hex('000457') }));
    expect(meter.checkConfig(card, info)).toEqual({ kind: 'bound-elsewhere', sw: 0x6a80 });
    // the utility's vending point puts one whose meter MAC is wrong (the card cannot tell)
    const kr = kRemote(gasMasters.credit, CSN1);
    const rec = configRecord(kOffline(new Map(gasMasters.host).get(1)!, GAS_METER), CSN1, {
      ...exampleConfig,
      version: 2,
    });
    rec[35] = rec[35]! ^ 0x80;
    expect(putConfig(card, GAS, putConfigData(kr, CSN1, rec))).toBe(0x9000);
    expect(meter.checkConfig(card, info)).toEqual({ kind: 'not-authentic', sw: 0x6300 });
    // KT version 7, which the SAM does not hold
    const rec7 = configRecord(diversify(hex('0101010101010101 0202020202020202'), ascii('OFFLINE')), CSN1, {
      ...exampleConfig,
      version: 3,
      ktVersion: 7,
    });
    expect(putConfig(card, GAS, putConfigData(kr, CSN1, rec7))).toBe(0x9000);
    expect(meter.checkConfig(card, info)).toEqual({ kind: 'unknown-key', sw: 0x6a88 });
    // a configuration of card 1 presented with card 2's CSN (copied onto another card): 6300
    const good = util.config(CSN1, { ...exampleConfig, version: 4 });
    expect(sw(meter.samChip, apdu(0x80, 0x1c, 0, 0, cat(CSN2, good.subarray(0, 36))))).toBe(0x6300);
  });

  it('which configuration a meter applies: later issued wins over a higher version of an older card', () => {
    const { meter, util } = rig();
    const present = (csn: Uint8Array, c: OfflineConfig) => {
      const d = newCard(csn);
      const ch = chip(d, ATR_CARD);
      const i = selectCard(ch);
      putConfig(ch, GAS, util.config(csn, c));
      return meter.applyIfNewer(meter.checkConfig(ch, i));
    };
    expect(present(CSN1, { ...exampleConfig, version: 9, issued: hex('261122083000') })).toBe(true);
    expect(present(CSN2, { ...exampleConfig, version: 1, issued: hex('261201000000') })).toBe(true);
    expect(present(CSN1, { ...exampleConfig, version: 10, issued: hex('261122083000') })).toBe(false);
    expect(present(CSN2, { ...exampleConfig, version: 2, issued: hex('261201000000') })).toBe(true);
  });
});

describe('readings: SIGN READINGS then UPDATE RECORD SFI 04; a vending point reads and clears', () => {
  it('the meter writes, the vending point reads, the utility checks and stores once, then clears', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    const rec = meter.writeReadings(card, info, readingsBody(exampleReadings));
    const read = readReadings(card, info, GAS)!;
    expect(read).toEqual(rec);
    expect(util.acceptReadings(CSN1, GAS, read)).toBe('stored');
    expect(util.acceptReadings(CSN1, GAS, read)).toBe('duplicate');
    expect(clearReadings(card, GAS, util.clear(CSN1, read))).toBe(0x9000);
    expect(readReadings(card, info, GAS)).toBeUndefined();
    expect(clearReadings(card, GAS, util.clear(CSN1, read))).toBe(0x6985);
  });

  it('readings edited, copied to another card, or of another utility are refused by the utility', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    const rec = meter.writeReadings(card, info, readingsBody(exampleReadings));
    for (const i of [1, 5, 15, 19, 35, 37, 38, 101, 102, 133, 134, 135, 142, 143])
      expect(
        util.acceptReadings(
          CSN1,
          GAS,
          rec.map((b, j) => (j === i ? b ^ 1 : b)),
        ),
        `byte ${i}`,
      ).toBe('refused');
    expect(util.acceptReadings(CSN2, GAS, rec)).toBe('refused');
    // an edited record written to the card in a genuine session: the card takes it, the utility does not
    const edited = rec.slice();
    edited[18] = edited[18]! ^ 0x10;
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), edited))).toBe(0x9000);
    expect(util.acceptReadings(CSN1, GAS, readReadings(card, info, GAS)!)).toBe('refused');
  });

  it('UPDATE RECORD SFI 04: 6982 without a session or for another purse; 6A80 format / purse; 6700 Lc', () => {
    const { card, meter, info } = rig();
    const body = readingsBody(exampleReadings);
    const rec = cat(body, new Uint8Array(9));
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), rec))).toBe(0x6982);
    meter.authenticate(card, info);
    expect(
      sw(
        card,
        apdu(0x00, 0xdc, 0x03, sfiP2(4), cat(body.subarray(0, 4), [3], body.subarray(5), new Uint8Array(9))),
      ),
    ).toBe(0x6982);
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), cat([2], rec.subarray(1))))).toBe(0x6a80);
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), cat(rec.subarray(0, 4), [3], rec.subarray(5))))).toBe(
      0x6a80,
    );
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), rec.subarray(0, 143)))).toBe(0x6700);
  });

  it('SIGN READINGS refuses another meter id or purse (6A80), an unknown KT version (6A88), Lc (6700)', () => {
    const { card, samChip, meter, info } = rig();
    meter.authenticate(card, info); // §13.4: only for the card the SAM has just authenticated
    const sign = (b: Uint8Array) => sw(samChip, apdu(0x80, 0x1e, 0, 0, cat(CSN1, b), 0x00));
    const body = readingsBody(exampleReadings);
    expect(sign(readingsBody({ ...exampleReadings, meterId: hex('000457') }))).toBe(0x6a80);
    expect(sign(readingsBody({ ...exampleReadings, purse: 3 }))).toBe(0x6a80);
    expect(sign(cat([2], body.subarray(1)))).toBe(0x6a80);
    expect(sign(readingsBody({ ...exampleReadings, ktVersion: 7 }))).toBe(0x6a88);
    expect(sign(body.subarray(0, 134))).toBe(0x6700);
  });

  it('SIGN READINGS without a card session is 6982, for a CSN other than the session’s 6A80 (§13.4)', () => {
    const { card, samChip, meter, info } = rig();
    const body = readingsBody(exampleReadings);
    const bare = send(samChip, apdu(0x80, 0x1e, 0, 0, cat(CSN1, body), 0x00));
    meter.authenticate(card, info);
    const other = send(samChip, apdu(0x80, 0x1e, 0, 0, cat(CSN2, body), 0x00));
    // Nothing on the meter's bus can have readings signed for a card that is not in the slot.
    expect(bare.sw).toBe(0x6982);
    expect(other.sw).toBe(0x6a80);
  });

  it('a newer reading written after the utility read the old one survives the old clear (6985)', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    const old = meter.writeReadings(card, info, readingsBody(exampleReadings));
    expect(util.acceptReadings(CSN1, GAS, old)).toBe('stored');
    const newer = meter.writeReadings(
      card,
      info,
      readingsBody({ ...exampleReadings, seq: 2, cumulative: 25_000 }),
    );
    expect(clearReadings(card, GAS, util.clear(CSN1, old))).toBe(0x6985);
    expect(readReadings(card, info, GAS)).toEqual(newer);
  });

  it('CLEAR READINGS: only the owning utility, only its purse; 6700 / 6A86 / 6A88', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    const rec = meter.writeReadings(card, info, readingsBody(exampleReadings));
    const elec = new UtilityServer(GAS, issuer.utility(1).credit, new Map(), SELLER);
    expect(clearReadings(card, GAS, elec.clear(CSN1, rec))).toBe(0x6300);
    expect(clearReadings(card, 0x03, util.clear(CSN1, rec))).toBe(0x6300);
    expect(clearReadings(card, GAS, util.clear(CSN2, rec))).toBe(0x6300);
    expect(clearReadings(card, GAS, util.clear(CSN1, rec).subarray(0, 15))).toBe(0x6700);
    expect(sw(card, apdu(0x80, 0x5a, 0x01, GAS, util.clear(CSN1, rec)))).toBe(0x6a86);
    expect(clearReadings(card, 0x09, util.clear(CSN1, rec))).toBe(0x6a88);
    expect(readReadings(card, info, GAS)).toEqual(rec);
  });
});

describe('edges the spec names loosely', () => {
  it('§13.1: a purse at position 7 takes remote loads but has no SFI 03 / 04 record', () => {
    const d = makeSubscriberCard(issuer, {
      csn: CSN1,
      purses: [1, 2, 3, 4, 5, 6, 7].map((id) => ({
        id,
        balance: 0,
        max: 500_000,
        limit: 100_000,
        unit: 978,
      })),
    });
    const c = chip(d, ATR_CARD);
    const info = selectCard(c);
    const u7 = new UtilityServer(7, issuer.utility(7).credit, new Map(issuer.utility(7).host), SELLER);
    expect(remoteLoad(c, 7, u7.sell(CSN1, 100, DT).data)).toMatchObject({ kind: 'applied', balance: 100 });
    expect(putConfig(c, 7, u7.config(CSN1, { ...exampleConfig, purse: 7 }))).toBe(0x6a84);
    expect(send(c, apdu(0x00, 0xb2, 0x07, sfiP2(3), undefined, 0x00)).sw).toBe(0x6a83);
    expect(readReadings(c, info, 7)).toBeUndefined(); // 6A83
    const rec = cat([1], GAS_METER, [7], new Uint8Array(139));
    // not named by §13.1 / §13.5: CLEAR READINGS of a purse without a record answers 6985
    expect(clearReadings(c, 7, u7.clear(CSN1, rec))).toBe(0x6985);
  });

  it('CONFIG CHECK checks the meter id before the KT version (order not given in §13.3)', () => {
    const { samChip, util } = rig();
    const rec = util.config(CSN1, exampleConfig).subarray(0, 36).slice();
    rec[3] = rec[3]! ^ 1; // meter 00 04 57
    rec[27] = 9; // KT version 9, not held
    expect(sw(samChip, apdu(0x80, 0x1c, 0, 0, cat(CSN1, rec)))).toBe(0x6a80);
  });

  // §1: "A field that is not valid BCD ... is refused with 6A80" — these currently are not.
  it('§1 vs §13.3: PUT CONFIG refuses an issued date-time that is not BCD (6A80)', () => {
    const { card, util } = rig();
    expect(putConfig(card, GAS, util.config(CSN1, { ...exampleConfig, issued: hex('26AA22083000') }))).toBe(
      0x6a80,
    );
  });
  it('§1 vs §13.4: SIGN READINGS refuses a reading date-time with month 13 (6A80)', () => {
    const { card, samChip, meter, info } = rig();
    meter.authenticate(card, info);
    const body = readingsBody({ ...exampleReadings, dateTime: hex('261322083000') });
    expect(sw(samChip, apdu(0x80, 0x1e, 0, 0, cat(CSN1, body), 0x00))).toBe(0x6a80);
  });
  it('§13.1 vs §13.4: SIGN READINGS refuses step count 0 or 17 and reading sequence 0', () => {
    const { card, samChip, meter, info } = rig();
    meter.authenticate(card, info);
    const body = readingsBody(exampleReadings);
    const sign = (b: Uint8Array) => sw(samChip, apdu(0x80, 0x1e, 0, 0, cat(CSN1, b), 0x00));
    expect(sign(body.map((b, i) => (i === 37 ? 0 : b)))).toBe(0x6a80);
    expect(sign(body.map((b, i) => (i === 37 ? 17 : b)))).toBe(0x6a80);
    expect(sign(body.map((b, i) => (i >= 5 && i < 9 ? 0 : b)))).toBe(0x6a80);
  });
  it('§13.1: UPDATE RECORD SFI 04 refuses a record whose RFU byte 143 is not 00', () => {
    const { card, meter, info } = rig();
    meter.authenticate(card, info);
    const rec = cat(readingsBody(exampleReadings), new Uint8Array(8), [0x55]);
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), rec))).toBe(0x6a80);
  });
});

describe('field maxima of REMOTE LOAD', () => {
  const one = (id: number, balance: number, max: number) =>
    makeSubscriberCard(issuer, { csn: CSN1, purses: [{ id, balance, max, limit: 100_000, unit: 978 }] });

  it('balance + amount past FFFFFFFF is 9402 with a u32 maximum (no wrap-around)', () => {
    const c = chip(one(GAS, 0xfffffff0, 0xffffffff), ATR_CARD);
    selectCard(c);
    const util = server();
    expect(sw(c, loadCmd(util.sell(CSN1, 0x0f, DT).data))).toBe(0x9000);
    expect(readPurse(c, GAS).balance).toBe(0xffffffff);
    expect(sw(c, loadCmd(util.sell(CSN1, 0x20, DT).data))).toBe(0x9402);
    expect(readPurse(c, GAS).balance).toBe(0xffffffff);
  });

  it('the transaction counter at FFFF: 9404 (final for the meter), while an applied seq still answers 02', () => {
    const c = chip(one(GAS, 0, 0xffffffff), ATR_CARD);
    const info = selectCard(c);
    const kr = kRemote(gasMasters.credit, CSN1);
    const data = (seq: number) =>
      remoteLoadData(kr, CSN1, { purse: GAS, seq, amount: 1, sellerId: SELLER, dateTime: DT });
    for (let seq = 1; seq <= 0xffff; seq++) {
      const r = send(c, loadCmd(data(seq)));
      if (r.sw !== 0x9000) throw new Error(`seq ${seq}: ${r.sw.toString(16)}`);
    }
    expect(readPurse(c, GAS)).toMatchObject({ balance: 0xffff, counter: 0xffff });
    const meter = new OfflineMeterTerminal(chip(newGasSam(), ATR_SAM));
    meter.queue.push(
      { id: 1, csn: CSN1, purse: GAS, data: data(0x10000) },
      { id: 2, csn: CSN1, purse: GAS, data: data(0xffff) },
    );
    expect(meter.deliver(c, info, GAS)).toEqual([
      expect.objectContaining({ kind: 'already', counter: 0xffff }),
      { kind: 'refused', sw: 0x9404 },
    ]);
    expect(meter.queue).toHaveLength(0);
    expect(readPurse(c, GAS).balance).toBe(0xffff);
  });
});

describe('what the spec leaves to the reader, pinned down against the chips', () => {
  it('record n is the purse’s position in the FCI, not its id: a card with purses 04, 02 keeps gas in record 2', () => {
    const d = makeSubscriberCard(issuer, {
      csn: CSN1,
      purses: [4, 2].map((id) => ({ id, balance: 0, max: 500_000, limit: 100_000, unit: 978 })),
    });
    const c = chip(d, ATR_CARD);
    const info = selectCard(c);
    expect(info.purses).toEqual([4, 2]);
    const meter = new OfflineMeterTerminal(chip(newGasSam(), ATR_SAM));
    meter.authenticate(c, info);
    const rec = meter.writeReadings(c, info, readingsBody(exampleReadings)); // UPDATE RECORD 2
    expect(send(c, apdu(0x00, 0xb2, 0x02, sfiP2(4), undefined, 0x00)).data).toEqual(rec);
    expect(send(c, apdu(0x00, 0xb2, 0x01, sfiP2(4), undefined, 0x00)).data.every((b) => b === 0)).toBe(true);
    // using the purse id as the record number (record 2 → fine here by luck; purse 04 → record 4) fails
    expect(send(c, apdu(0x00, 0xb2, 0x04, sfiP2(4), undefined, 0x00)).sw).toBe(0x6a83);
    expect(putConfig(c, GAS, server().config(CSN1, exampleConfig))).toBe(0x9000);
    expect(meter.checkConfig(c, info).kind).toBe('authentic');
  });

  it('REMOTE LOAD needs no PIN on a PIN card, and does not take the card challenge RC', () => {
    const d = makeSubscriberCard(issuer, {
      csn: CSN2,
      pin: '1234',
      purses: [1, 2].map((id) => ({ id, balance: 0, max: 500_000, limit: 100_000, unit: 978 })),
    });
    const c = chip(d, ATR_CARD);
    const info = selectCard(c);
    const util = server();
    const samChip = chip(newGasSam(), ATR_SAM);
    expect(selectSam(samChip).purse).toBe(GAS);
    const rc = send(c, apdu(0x00, 0x84, 0x00, 0x00, undefined, 0x08)).data;
    expect(sw(c, loadCmd(util.sell(CSN2, 100, DT).data))).toBe(0x9000);
    const init = send(samChip, apdu(0x80, 0x10, 0x00, 0x00, cat(info.csn, rc), 0x00)).data;
    expect(sw(c, apdu(0x00, 0x82, 0x00, GAS, init, 0x08))).toBe(0x9000);
  });

  it('neither PUT CONFIG nor CLEAR READINGS ends an open SAM session; a signed status (READ PURSE + RV) does', () => {
    const { card, meter, info, util } = rig();
    meter.authenticate(card, info);
    const rec = meter.writeReadings(card, info, readingsBody(exampleReadings));
    expect(putConfig(card, GAS, util.config(CSN1, exampleConfig))).toBe(0x9000);
    expect(clearReadings(card, GAS, util.clear(CSN1, rec))).toBe(0x9000);
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), rec))).toBe(0x9000);
    expect(sw(card, apdu(0x80, 0x5c, 0x00, GAS, hex('0102030405060708'), 0x00))).toBe(0x9000);
    expect(sw(card, apdu(0x00, 0xdc, 0x02, sfiP2(4), rec))).toBe(0x6982);
  });

  it('the receipt covers the load, not the balance, counter or outcome: a carrier can change those unseen', () => {
    const { card, util } = rig();
    const a = util.sell(CSN1, 1000, DT);
    const ans = send(card, loadCmd(a.data)).data;
    const forged = ans.slice();
    forged.set(u32(999_999), 1);
    forged[0] = 0x02;
    expect(util.receiptGood(a, forged)).toBe(true);
  });
});

describe('transport and volatile state', () => {
  it('on a T=0 card the case-4 REMOTE LOAD answers 61 0F and GET RESPONSE fetches the 15 bytes (§1)', () => {
    const d = makeSubscriberCard(issuer, {
      csn: CSN1,
      protocol: 'T=0',
      purses: [1, 2].map((id) => ({ id, balance: 0, max: 500_000, limit: 100_000, unit: 978 })),
    });
    const c = chip(d, '3B 0A 80 F8 F0 4D 50 55 52 53 45 01');
    const info = selectCard(c);
    const util = server();
    const a = util.sell(CSN1, 700, DT);
    expect(toHex(c.transmit(loadCmd(a.data)))).toBe('61 0F');
    expect(util.receiptGood(a, c.transmit(hex('00 C0 00 00 0F')).subarray(0, 15))).toBe(true);
    const meter = new OfflineMeterTerminal(chip(newGasSam(), ATR_SAM));
    meter.queue.push({ id: 1, csn: CSN1, purse: GAS, data: util.sell(CSN1, 300, DT).data });
    expect(meter.deliver(c, info, GAS)).toEqual([
      expect.objectContaining({ kind: 'applied', balance: 1000 }),
    ]);
  });

  it('a power cycle ends the SAM session (volatile) but keeps the last applied seq (persistent)', () => {
    const d = newCard();
    const c = chip(d, ATR_CARD);
    const info = selectCard(c);
    const util = server();
    const meter = new OfflineMeterTerminal(chip(newGasSam(), ATR_SAM));
    const a = util.sell(CSN1, 100, DT);
    meter.authenticate(c, info);
    expect(sw(c, loadCmd(a.data))).toBe(0x9000);
    d.os.powerDown();
    d.os.powerUp();
    selectCard(c);
    expect(send(c, loadCmd(a.data)).data[0]).toBe(0x02);
    expect(
      sw(c, apdu(0x00, 0xdc, 0x02, sfiP2(4), cat(readingsBody(exampleReadings), new Uint8Array(9)))),
    ).toBe(0x6982);
  });
});
