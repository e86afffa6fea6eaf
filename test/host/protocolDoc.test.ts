import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  deriveSessionKey,
  deriveTerminalKey,
  macIso9797Alg1,
  NodeCipherProvider,
  pad,
  SeededRng,
} from '../../card/crypto/index.js';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';
import { u32 } from '../../card/util/bigEndian.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { defaultPurses, makeSubscriberCard } from '../../card/applets/profiles.js';
import { AID_PURSE } from '../../card/applets/constants.js';
import { ResponseApdu } from '../../card/iso7816/ResponseApdu.js';
import {
  OfflineReading,
  verifyOfflineReading,
  verifyRemoteReceipt,
} from '../../card/applets/purse/offline.js';
import * as A from '../../terminal/apdus.js';
import { EXAMPLE_ISSUER_SEED, EXAMPLE_NAMES, workedExample } from '../../host/protocol/examples.js';
import type { ExampleName } from '../../host/protocol/examples.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { SimulatedMeterTerminal } from '../../host/sim/SimulatedMeterTerminal.js';
import { HostKeyRing } from '../../card/index.js';
import {
  BL_APPLIED,
  REFUSE_BAD_SIGNATURE,
  decodeBlacklistUpdate,
  decodeCardCommandsAnswer,
  decodeCardCommandsRequest,
  decodeMessage,
  encodeMessage,
} from '../../protocol/index.js';

const cipher = new NodeCipherProvider();
const doc = readFileSync(new URL('../../docs/host-protocol.md', import.meta.url), 'utf8');

/** Every `<!-- example: name -->` block of the document, parsed into field → hex. */
function examples(): Map<string, Array<[string, string]>> {
  const out = new Map<string, Array<[string, string]>>();
  const re = /<!-- example: ([a-z-]+) -->\s*```text\n([\s\S]*?)```/g;
  for (const m of doc.matchAll(re)) {
    const fields: Array<[string, string]> = [];
    for (const line of m[2]!.split('\n')) {
      if (!line.trim()) continue;
      const kv = /^(\S+)\s+= (.*)$/.exec(line);
      if (kv) fields.push([kv[1]!, kv[2]!.trim()]);
      else fields[fields.length - 1]![1] += line.trim();
    }
    out.set(m[1]!, fields);
  }
  return out;
}

const E = (k: Uint8Array, x: Uint8Array) => cipher.encrypt('tdes', 'cbc', k, pad(x, 2, 8), new Uint8Array(8));
const SIG = (k: Uint8Array, x: Uint8Array) => macIso9797Alg1(cipher, 'tdes', k, x, 2);
const ascii = (s: string) => new TextEncoder().encode(s);
const num = (b: Uint8Array) => b.reduce((a, x) => a * 256 + x, 0);

/** One example's fields as bytes; `g` throws on a missing field, `cat(prefix)` joins a group in order. */
function fieldsOf(fields: Array<[string, string]>) {
  const f = new Map(fields.map(([k, v]) => [k, fromHex(v)]));
  const g = (k: string) => {
    const v = f.get(k);
    if (!v) throw new Error(`field ${k} missing`);
    return v;
  };
  const cat = (prefix: string) =>
    concatBytes(...fields.filter(([k]) => k.startsWith(prefix)).map(([k]) => g(k)));
  const has = (prefix: string) => fields.some(([k]) => k.startsWith(prefix));
  return { g, cat, has };
}

const issuer = IssuerKeys.demo(cipher, EXAMPLE_ISSUER_SEED);

describe('docs/host-protocol.md worked examples', () => {
  const all = examples();
  it('has one example per command, and the generator makes each', () => {
    expect([...all.keys()].sort()).toEqual([...EXAMPLE_NAMES].sort());
  });

  for (const [name, fields] of all) {
    it(`${name}: every derived field recomputes from the inputs`, () => {
      const { g, cat, has } = fieldsOf(fields);
      const kt = deriveTerminalKey(cipher, g('KH'), g('ID'));
      expect(toHex(kt)).toBe(toHex(g('KT')));
      const ks = deriveSessionKey(cipher, kt, g('R1'));
      expect(toHex(ks)).toBe(toHex(g('Ks')));
      expect(toHex(SIG(ks, g('R2')))).toBe(toHex(g('S1')));
      if (name === 'value-store') expect(toHex(E(ks, g('amount-plain')))).toBe(toHex(g('payload')));
      expect(toHex(SIG(ks, concatBytes(g('H'), g('R3'), g('payload'))))).toBe(toHex(g('S2h')));
      expect(toHex(E(ks, g('answer')))).toBe(toHex(g('M')));
      expect(toHex(g('answer').slice(-3))).toBe(toHex(g('ID')));
      // the decoded fields are the payload and the answer, byte for byte and in wire order
      if (has('p.')) expect(toHex(cat('p.'))).toBe(toHex(g('payload')));
      if (has('a.')) {
        expect(toHex(cat('a.'))).toBe(toHex(g('answer')));
        expect(toHex(g('a.ID'))).toBe(toHex(g('ID')));
      }
      const lp = g('payload').length;
      expect(toHex(g('msg-init-request'))).toBe(
        toHex(concatBytes(Uint8Array.of(0x10), g('R1'), g('R2'), g('n'))),
      );
      expect(toHex(g('msg-init-response'))).toBe(toHex(concatBytes(Uint8Array.of(0x11), g('S1'), g('R3'))));
      expect(toHex(g('msg-command-request'))).toBe(
        toHex(
          concatBytes(Uint8Array.of(0x20), g('H'), Uint8Array.of(lp >> 8, lp & 0xff), g('payload'), g('S2h')),
        ),
      );
      expect(toHex(g('msg-command-response'))).toBe(toHex(concatBytes(Uint8Array.of(0x21), g('M'))));
    });

    it(`${name}: the code still produces exactly this example`, async () => {
      expect(await workedExample(name as ExampleName)).toEqual(fields);
    });
  }

  it('blacklist: the decoded fields are what the codec reads, and the answer confirms them', () => {
    const { g } = fieldsOf(all.get('blacklist')!);
    expect(toHex(g('H'))).toBe('56');
    const u = decodeBlacklistUpdate(g('payload'));
    expect(u.version).toBe(num(g('p.version')));
    expect(u.mode).toBe('full');
    expect(u.base).toBe(0);
    expect(u.keyVersions).toEqual([...g('p.KH-versions')]);
    // the whitelist names the session's own KH[n], else the meter would answer 04 (lockout)
    expect(u.keyVersions).toContain(num(g('n')));
    expect(u.cardKeyVersions).toEqual([...g('p.card-key-versions')]);
    expect(u.add.map(toHex)).toEqual([toHex(g('p.add[0]')), toHex(g('p.add[1]'))]);
    expect(u.remove).toEqual([]);
    expect(num(g('a.status'))).toBe(BL_APPLIED);
    expect(num(g('a.version'))).toBe(u.version);
    expect(num(g('a.serials'))).toBe(u.add.length);
  });

  describe('card commands (H = 57)', () => {
    const q = fieldsOf(all.get('card-commands-queue') ?? []);
    const c = fieldsOf(all.get('card-commands') ?? []);
    const remoteBody = (letter: string, x: typeof c) =>
      concatBytes(
        ascii(letter),
        x.g('CSN'),
        x.g('purse'),
        x.g('rl.seq'),
        x.g('rl.amount'),
        x.g('rl.seller'),
        x.g('rl.date-time'),
      );

    for (const [label, x] of [
      ['card-commands-queue', q],
      ['card-commands', c],
    ] as const) {
      it(`${label}: the REMOTE LOAD is the utility's, signed under K_remote[purse](CSN)`, () => {
        expect(toHex(x.g('H'))).toBe('57');
        const kRemote = issuer.remoteKey(x.g('CSN'), num(x.g('purse')));
        expect(toHex(kRemote)).toBe(toHex(x.g('K_remote')));
        expect(toHex(issuer.crypto.mac(kRemote, remoteBody('R', x)))).toBe(toHex(x.g('rl.MAC')));
        expect(toHex(x.g('p.cmd[0].data'))).toBe(toHex(x.cat('rl.')));
        expect(toHex(x.g('p.cmd[0].CSN'))).toBe(toHex(x.g('CSN')));
        expect(toHex(x.g('p.cmd[0].p2'))).toBe(toHex(x.g('purse')));
        expect(toHex(x.g('p.cmd[0].ins'))).toBe('56');
        expect(num(x.g('p.cmd[0].Lc'))).toBe(x.g('p.cmd[0].data').length);
        const r = decodeCardCommandsRequest(x.g('payload'));
        expect(r.ackBelow).toBe(num(x.g('p.ackBelow')));
        expect(r.forget).toEqual([]);
        expect(r.commands).toHaveLength(1);
        expect(r.commands[0]!.id).toBe(num(x.g('p.cmd[0].id')));
        expect(toHex(r.commands[0]!.data)).toBe(toHex(x.g('p.cmd[0].data')));
      });
    }

    it('card-commands-queue: the command is queued, nothing is in the outbox yet', () => {
      const a = decodeCardCommandsAnswer(q.g('answer'));
      expect(a).toMatchObject({ queued: 1, next: 1, more: false, answers: [], readings: [] });
    });

    it('card-commands: the retry carries the same payload under a fresh session', () => {
      expect(toHex(c.g('payload'))).toBe(toHex(q.g('payload')));
      expect(toHex(c.g('R1'))).not.toBe(toHex(q.g('R1')));
      expect(toHex(c.g('S2h'))).not.toBe(toHex(q.g('S2h')));
    });

    it("card-commands: the answer carries the card's own answer and the gas meter's signed reading", () => {
      const a = decodeCardCommandsAnswer(c.g('answer'));
      expect(a.queued).toBe(0); // the retry was not queued a second time
      expect(a.more).toBe(false);
      expect(a.answers).toHaveLength(1);
      expect(a.readings).toHaveLength(1);
      const ans = a.answers[0]!;
      expect(ans).toMatchObject({ seq: 1, id: num(c.g('p.cmd[0].id')), outcome: 0, sw: 0x9000 });
      expect(toHex(ans.data)).toBe(toHex(c.g('a.ans[0].data')));
      expect(num(c.g('a.ans[0].len'))).toBe(ans.data.length);
      expect(a.next).toBe(a.readings[0]!.seq + 1);
      // the APDU the slot sent is the relayed command, 80 INS 00 P2 Lc data 00
      expect(toHex(c.g('card.apdu'))).toBe(
        toHex(
          concatBytes(
            Uint8Array.of(0x80),
            c.g('p.cmd[0].ins'),
            Uint8Array.of(0),
            c.g('p.cmd[0].p2'),
            c.g('p.cmd[0].Lc'),
            c.g('p.cmd[0].data'),
            Uint8Array.of(0),
          ),
        ),
      );
      // the card's 15 bytes: outcome 01 applied ‖ balance ‖ counter ‖ receipt MAC(K_remote, 'A' …)
      expect(toHex(ans.data)).toBe(
        toHex(
          concatBytes(c.g('card.outcome'), c.g('card.balance'), c.g('card.counter'), c.g('card.receipt')),
        ),
      );
      expect(toHex(c.g('card.outcome'))).toBe('01');
      expect(num(c.g('card.balance'))).toBe(num(c.g('card.balance-before')) + num(c.g('rl.amount')));
      const kRemote = issuer.remoteKey(c.g('CSN'), num(c.g('purse')));
      expect(toHex(issuer.crypto.mac(kRemote, remoteBody('A', c)))).toBe(toHex(c.g('card.receipt')));
      // the reading: the card's SFI 04 record, MAC'd by the offline meter named in it
      const rd = a.readings[0]!;
      expect(toHex(rd.csn)).toBe(toHex(c.g('CSN')));
      expect(rd.purse).toBe(num(c.g('purse')));
      expect(toHex(rd.record)).toBe(toHex(c.g('a.rd[0].record')));
      const rec = rd.record;
      const reading = OfflineReading.decode(rec);
      expect(reading.purse).toBe(rd.purse);
      const kOffline = issuer.offlineMeterKey(rec.subarray(1, 4), rec[4]!, rec[134]!);
      expect(toHex(kOffline)).toBe(toHex(c.g('K_offline')));
      const macInput = concatBytes(ascii('M'), c.g('CSN'), rec.subarray(0, 135));
      expect(toHex(issuer.crypto.mac(kOffline, macInput))).toBe(toHex(rec.subarray(135, 143)));
      expect(verifyOfflineReading(issuer, c.g('CSN'), rec)).toBe(true);
    });

    // ---- attacks on the example's bytes --------------------------------------------------------

    it('the receipt confirms exactly this load: another amount, seq or card does not verify', () => {
      const f = {
        csn: c.g('CSN'),
        purse: num(c.g('purse')),
        seq: num(c.g('rl.seq')),
        amount: num(c.g('rl.amount')),
        sellerId: c.g('rl.seller'),
        dateTime: c.g('rl.date-time'),
      };
      const receipt = c.g('card.receipt');
      expect(verifyRemoteReceipt(issuer, f, receipt)).toBe(true);
      expect(verifyRemoteReceipt(issuer, { ...f, amount: f.amount + 1 }, receipt)).toBe(false);
      expect(verifyRemoteReceipt(issuer, { ...f, seq: f.seq + 1 }, receipt)).toBe(false);
      expect(verifyRemoteReceipt(issuer, { ...f, purse: 3 }, receipt)).toBe(false);
      expect(verifyRemoteReceipt(issuer, { ...f, csn: fromHex('4D50000000000002') }, receipt)).toBe(false);
    });

    it('a carrier that changes any byte of the reading (bytes 0..142) makes it fail the utility check', () => {
      const rec = c.g('a.rd[0].record');
      for (let i = 0; i < 143; i++) {
        const bad = Uint8Array.from(rec);
        bad[i]! ^= 0x01;
        expect(verifyOfflineReading(issuer, c.g('CSN'), bad), `byte ${i}`).toBe(false);
      }
      // and the same record presented for another card
      expect(verifyOfflineReading(issuer, fromHex('4D50000000000002'), rec)).toBe(false);
    });

    it("the slot's APDU delivered twice credits once: the second answer is 02 with the same receipt", () => {
      const card = makeSubscriberCard(issuer, {
        csn: c.g('CSN'),
        purses: defaultPurses(10_000),
        rng: new SeededRng(`${EXAMPLE_ISSUER_SEED}:card`),
      });
      card.os.powerUp();
      const send = (b: Uint8Array) => ResponseApdu.decode(card.os.transmit(b));
      expect(send(A.selectAid(AID_PURSE).encode()).sw).toBe(0x9000);
      const first = send(c.g('card.apdu'));
      expect(first.sw).toBe(0x9000);
      expect(toHex(first.data)).toBe(toHex(c.g('a.ans[0].data')));
      const again = send(c.g('card.apdu'));
      expect(again.sw).toBe(0x9000);
      expect(again.data[0]).toBe(0x02);
      expect(toHex(again.data.subarray(1))).toBe(toHex(first.data.subarray(1)));
      const purse = send(A.readPurse(num(c.g('purse'))).encode());
      expect(u32(purse.data, 0)).toBe(num(c.g('card.balance')));
    });

    it("the document's COMMAND replayed into another session is refused and queues nothing", async () => {
      const { g } = c;
      const kh = g('KH');
      const ring = HostKeyRing.of([[num(g('n')), kh]]);
      const kt = ring.terminalKey(cipher, num(g('n')), g('ID'));
      const fresh = () =>
        new SimulatedMeterTerminal(cipher, new SeededRng('doc-replay-meter'), {
          id: g('ID'),
          terminalKeys: new Map([[num(g('n')), kt]]),
          balance: 0,
          clock: 0,
          energyWh: 0,
        });
      // the replay: a new INIT (fresh R1, R2), then the recorded COMMAND bytes
      const meter = fresh();
      const init = decodeMessage(
        meter.handle(
          encodeMessage({
            kind: 'init-request',
            r1: fromHex('0102030405060708'),
            r2: fromHex('1112131415161718'),
            n: num(g('n')),
          }),
        ),
      );
      expect(init.kind).toBe('init-response');
      const answer = decodeMessage(meter.handle(g('msg-command-request')));
      expect(answer).toEqual({ kind: 'refusal', reason: REFUSE_BAD_SIGNATURE });
      expect(meter.queuedCardCommands()).toEqual([]);
      // control: the same payload, signed for that session by the key holder, is queued
      const honest = fresh();
      const host = new HostProtocol(cipher, new SeededRng('doc-replay-host'), () => ring);
      const a = await host.cardCommands(
        honest.asTerminal(),
        { id: g('ID'), keyVersion: num(g('n')) },
        decodeCardCommandsRequest(g('payload')),
      );
      expect(a.queued).toBe(1);
      expect(honest.queuedCardCommands().map((x) => toHex(x.data))).toEqual([toHex(g('p.cmd[0].data'))]);
    });
  });
});
