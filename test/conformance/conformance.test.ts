import { describe, expect, it } from 'vitest';
import {
  IssuerKeys,
  NodeCipherProvider,
  SeededRng,
  defaultPurses,
  makeSam,
  makeSubscriberCard,
  makeSvm,
  toHex,
  fromHex,
  type CardOs,
} from '../../card/index.js';
import { Trace, VirtualReader, type CardChannel } from '../../reader/index.js';
import { MemoryTraceSink, TraceRecorder } from '../../reader/trace/index.js';
import { MeterModules, apdus as A, conformance as C, runCardSession } from '../../terminal/index.js';

const cipher = new NodeCipherProvider();
const issuer = IssuerKeys.demo(cipher, '0');
const CSN = fromHex('4D50000000000001');
const NOW = fromHex('261122083000');

function card(o: { protocol?: 'T=0' | 'T=1'; balance?: number; rng?: string; pin?: string } = {}): CardOs {
  return makeSubscriberCard(issuer, {
    csn: CSN,
    protocol: o.protocol ?? 'T=1',
    purses: defaultPurses(o.balance ?? 0),
    ...(o.rng ? { rng: new SeededRng(o.rng) } : {}),
    ...(o.pin ? { pin: o.pin } : {}),
  }).os;
}

const channel = (os: CardOs, name = 'card'): Promise<CardChannel> => new VirtualReader(name, os).connect();
const run = async (os: CardOs, extra: Partial<C.CardRunOptions> = {}) =>
  C.runCardSuite(await channel(os), { keys: C.keysFromIssuer(issuer), cipher, ...extra });
const statusOf = (r: C.RunResult) => Object.fromEntries(r.cases.map((c) => [c.id, c.status]));

/** A test-only wrapper: the card's answers with one thing wrong. */
class BrokenCard implements CardOs {
  constructor(
    readonly inner: CardOs,
    readonly spoil: (cmd: Uint8Array, resp: Uint8Array) => Uint8Array,
  ) {}
  get atr() {
    return this.inner.atr;
  }
  get powered() {
    return this.inner.powered;
  }
  powerUp() {
    return this.inner.powerUp();
  }
  reset() {
    return this.inner.reset();
  }
  powerDown() {
    this.inner.powerDown();
  }
  transmit(c: Uint8Array) {
    return this.spoil(c, this.inner.transmit(c));
  }
}

describe('conformance card: our own cards pass', () => {
  for (const protocol of ['T=1', 'T=0'] as const)
    it(`subscriber${protocol === 'T=0' ? '-t0' : ''}: every case passes (SELECT P1-P2 advisory) and the balance ends as it began`, async () => {
      const os = card({ protocol, balance: 1234 });
      const r = await run(os);
      const bad = r.cases.filter((c) => c.status === 'fail' || c.status === 'error');
      expect(bad.map((c) => `${c.id}: ${c.message}`)).toEqual([]);
      expect(r.cases.length).toBeGreaterThanOrEqual(30);
      expect(r.before?.balance).toBe(1234);
      expect(r.after?.balance).toBe(1234);
      // Two round trips (load-debit and recovery.pull): counter +4, nothing else moved.
      expect(r.after!.counter - r.before!.counter).toBe(4);
    });

  it('a card with a PIN passes when the PIN is given, and near its maximum the round trips run the other way', async () => {
    const r = await run(card({ pin: '1234', balance: 500000 }), { pin: '1234' });
    expect(r.cases.filter((c) => c.status === 'fail' || c.status === 'error').map((c) => c.message)).toEqual(
      [],
    );
    expect(r.after?.balance).toBe(500000);
  });

  it('keys from a lab keys file (masters, and one card’s keys) work as the demo issuer does', async () => {
    const m = issuer.utility(1);
    const masters = JSON.stringify({
      format: C.KEYS_FILE_FORMAT,
      masters: {
        '1': { auth: toHex(m.auth), debit: toHex(m.debit), credit: toHex(m.credit), proof: toHex(m.proof) },
      },
    });
    const k = issuer.cardKeys(CSN, 1);
    const cards = JSON.stringify({
      format: C.KEYS_FILE_FORMAT,
      csn: toHex(CSN),
      cards: {
        '1': { auth: toHex(k.auth), debit: toHex(k.debit), credit: toHex(k.credit), proof: toHex(k.proof) },
      },
    });
    for (const text of [masters, cards]) {
      const r = await run(card({ balance: 10 }), { keys: C.parseKeysFile(text, cipher) });
      expect(r.cases.filter((c) => c.status === 'fail' || c.status === 'error')).toEqual([]);
    }
    expect(() => C.parseKeysFile('{"format":"x"}', cipher)).toThrow(/format/);
    expect(() => C.parseKeysFile(JSON.stringify({ format: C.KEYS_FILE_FORMAT, cards: {} }), cipher)).toThrow(
      /csn/,
    );
  });

  it('wrong keys fail the cryptogram cases and nothing moves', async () => {
    const r = await run(card({ balance: 50 }), { keys: C.keysFromIssuer(IssuerKeys.demo(cipher, 'other')) });
    const s = statusOf(r);
    expect(s['auth.ok']).toBe('fail');
    expect(s['select.fci']).toBe('pass');
    expect(r.after?.balance).toBe(50);
  });
});

describe('conformance card: a broken card fails the right cases', () => {
  it('a wrong S_card fails auth.ok; a wrong status word for a short GET CHALLENGE fails challenge.refusals', async () => {
    const broken = new BrokenCard(card({ balance: 100 }), (cmd, resp) => {
      if (cmd[1] === 0x82 && resp.length === 10) {
        const r = resp.slice();
        r[0]! ^= 0x01;
        return r;
      }
      if (toHex(cmd) === '0084000004') return fromHex('6A80');
      return resp;
    });
    const r = await run(broken);
    const s = statusOf(r);
    expect(s['auth.ok']).toBe('fail');
    expect(r.cases.find((c) => c.id === 'auth.ok')!.message).toMatch(/S_card/);
    expect(s['challenge.refusals']).toBe('fail');
    expect(r.cases.find((c) => c.id === 'challenge.refusals')!.message).toMatch(/6A80.*6700/);
    for (const id of ['select.fci', 'read-purse.state', 'log.refusals', 'iso.instruction'])
      expect(s[id]).toBe('pass');
    const xml = C.junitXml({ ...r, facts: [] });
    expect(xml).toContain('<failure message="GET CHALLENGE Le=04: the card answered 6A80');
    expect(xml.match(/<testcase /g)!.length).toBe(r.cases.length);
  });

  it('a card that accepts a DEBIT with a wrong MAC fails debit.wrong-mac, and the value is given back', async () => {
    // On a DEBIT it refused for the MAC (6300) it answers a balance instead.
    const lying = new BrokenCard(card({ balance: 100 }), (cmd, resp) =>
      cmd[1] === 0x54 && toHex(resp) === '6300' ? fromHex('00000063000190909090909090909000') : resp,
    );
    const r = await run(lying, { only: ['debit.wrong-mac'] });
    expect(statusOf(r)['debit.wrong-mac']).toBe('fail');
  });
});

describe('report', () => {
  it('JUnit XML escapes every special character', () => {
    const xml = C.junitXml({
      suite: 'a & b',
      target: '<reader "x">',
      ms: 5,
      cases: [
        {
          id: 'x',
          title: 'it\'s <bad> & "odd"',
          section: '§1',
          status: 'fail',
          message: 'a<b & \u0001',
          leaves: 'nothing',
          exchanges: ['> 00'],
          ms: 1,
        },
      ],
    });
    expect(xml).toContain('name="a &amp; b"');
    expect(xml).toContain('hostname="&lt;reader &quot;x&quot;&gt;"');
    expect(xml).toContain('it&apos;s &lt;bad&gt; &amp; &quot;odd&quot;');
    expect(xml).toContain('message="a&lt;b &amp; \uFFFD"');
    expect(xml.includes('\u0001')).toBe(false);
  });
});

async function meter(balance = 0) {
  const sam = makeSam(issuer, { meterId: fromHex('000123'), terminalId: fromHex('00000123') });
  const svm = makeSvm(issuer, {
    meterId: fromHex('000123'),
    terminalId: fromHex('00000123'),
    max: 1_000_000,
    balance,
  });
  return MeterModules.open(await channel(sam.os, 'sam'), await channel(svm.os, 'svm'));
}

describe('conformance terminal: the checking card', () => {
  it('our own terminal (card transfer with recovery, LOAD) shows no deviation', async () => {
    const checking = new C.SpecCheckingCard(card({ balance: 5000 }), C.keysFromIssuer(issuer), cipher);
    const ch = await channel(checking);
    const m = await meter();
    const out = await runCardSession(m, ch, { purse: 1, dateTime: NOW, maxAmount: 700 });
    expect(out.amount).toBe(700);
    const { loadCard } = await import('../../terminal/index.js');
    await loadCard(ch, issuer, { purse: 1, amount: 300, terminalId: fromHex('56454E44'), dateTime: NOW });
    await ch.reset();
    await runCardSession(m, ch, { purse: 1, dateTime: NOW, transfer: false });
    expect(checking.deviations).toEqual([]);
    expect(checking.apdus).toBeGreaterThan(10);
    const rep = C.terminalReport(checking, 'test', 1);
    expect(C.passed(rep)).toBe(true);
  });

  it('a bad terminal: wrong Le, DEBIT before authentication, a replayed MAC, a wrong S_sam — each named', async () => {
    const checking = new C.SpecCheckingCard(card({ balance: 5000 }), C.keysFromIssuer(issuer), cipher);
    const ch = await channel(checking);
    const m = await meter();
    // A good session first, to have a DEBIT to replay.
    let debit: Uint8Array | undefined;
    const spy: CardChannel = {
      readerName: ch.readerName,
      atr: ch.atr,
      protocol: ch.protocol,
      transmit: async (c) => {
        if (c.ins === 0x54) debit = c.encode();
        return ch.transmit(c);
      },
      reset: () => ch.reset(),
      disconnect: () => ch.disconnect(),
    };
    await runCardSession(m, spy, { purse: 1, dateTime: NOW, maxAmount: 10 });
    expect(checking.deviations).toEqual([]);
    const { CommandApdu } = await import('../../card/index.js');
    await ch.transmit(A.selectAid());
    await ch.transmit(CommandApdu.decode(fromHex('805C000104'))); // READ PURSE with Le = 04
    await ch.transmit(CommandApdu.decode(debit!)); // DEBIT before MUTUAL AUTHENTICATE, and its MAC again
    const rc = (await ch.transmit(A.getChallenge())).data;
    void rc;
    await ch.transmit(A.mutualAuthenticate(new Uint8Array(8), new Uint8Array(8), 1)); // S_sam wrong
    await ch.transmit(A.mutualAuthenticate(new Uint8Array(8), new Uint8Array(8), 1)); // no challenge
    const rules = checking.deviations.map((d) => d.rule);
    expect(rules).toEqual(
      expect.arrayContaining([
        'le',
        'order.debit-before-auth',
        'mac.replayed',
        'mac.s-sam',
        'order.challenge-first',
      ]),
    );
    const rep = C.terminalReport(checking, 'test', 1);
    expect(C.passed(rep)).toBe(false);
    expect(C.textReport(rep)).toMatch(/FAIL .*order\.debit-before-auth/);
  });
});

describe('conformance replay: as the documented terminal', () => {
  async function record(os: CardOs): Promise<Trace> {
    const ch = await channel(os);
    const events: {
      type: 'exchange';
      command: Uint8Array;
      response: Uint8Array;
      comments: string[];
      line: number;
    }[] = [];
    const rec: CardChannel = {
      readerName: 'rec',
      atr: ch.atr,
      protocol: ch.protocol,
      transmit: async (c) => {
        const r = await ch.transmit(c);
        events.push({ type: 'exchange', command: c.encode(), response: r.encode(), comments: [], line: 0 });
        return r;
      },
      reset: () => ch.reset(),
      disconnect: () => ch.disconnect(),
    };
    await runCardSession(await meter(), rec, { purse: 1, dateTime: NOW, maxAmount: 250 });
    // A v1 trace file, as `trace record` writes it.
    return Trace.parse(new Trace({ reader: 'rec', protocol: 'T=1', atr: ch.atr }, events).format());
  }

  it('a MUTUAL AUTHENTICATE + READ PURSE + DEBIT session replays against a fresh card with another RNG: no difference', async () => {
    const trace = await record(card({ balance: 1000, rng: 'first' }));
    expect(trace.exchanges.map((e) => toHex(e.command.subarray(1, 2)))).toEqual(
      expect.arrayContaining(['82', '5C', '54']),
    );
    const r = await C.replayAsTerminal(
      trace,
      await channel(card({ balance: 1000, rng: 'second' })),
      C.keysFromIssuer(issuer),
      cipher,
    );
    expect(r.differences).toEqual([]);
    expect(r.exchanges).toBe(trace.exchanges.length);
  });

  it('against a card with another balance the difference is named', async () => {
    const trace = await record(card({ balance: 1000, rng: 'first' }));
    const r = await C.replayAsTerminal(
      trace,
      await channel(card({ balance: 900, rng: 'third' })),
      C.keysFromIssuer(issuer),
      cipher,
    );
    expect(r.differences.map((d) => d.message)).toEqual(
      expect.arrayContaining([
        'READ PURSE 1: balance 900, recorded 1000',
        'DEBIT: balance after 650, recorded 750',
      ]),
    );
  });
});

describe('conformance replay: a version 2 trace of several channels', () => {
  /** A card session recorded with the meter's SAM and SVM in one v2 trace (as `trace record` does). */
  async function recordV2(os: CardOs): Promise<Trace> {
    const sink = new MemoryTraceSink();
    const rec = new TraceRecorder(sink, { tool: 'test' });
    const sam = makeSam(issuer, { meterId: fromHex('000123'), terminalId: fromHex('00000123') });
    const svm = makeSvm(issuer, {
      meterId: fromHex('000123'),
      terminalId: fromHex('00000123'),
      max: 1_000_000,
    });
    const m = await MeterModules.open(
      rec.channel(await channel(sam.os, 'SAM')),
      rec.channel(await channel(svm.os, 'SVM')),
    );
    const ch = rec.channel(await channel(os, 'Card Slot 0'), { id: 'card' });
    await runCardSession(m, ch, { purse: 1, dateTime: NOW, maxAmount: 250 });
    await rec.close();
    return Trace.parse(sink.text());
  }

  it('the card channel of the trace (Trace.channel) replays with no difference; the others are not sent', async () => {
    const trace = await recordV2(card({ balance: 1000, rng: 'first' }));
    expect(trace.header.version).toBe(2);
    expect(trace.header.channels.map((c) => c.id)).toEqual(['sam', 'svm', 'card']);
    const cardTrace = C.cardChannelOf(trace, 'card');
    expect(cardTrace.header.reader).toBe('Card Slot 0');
    expect(cardTrace.exchanges.length).toBeLessThan(trace.exchanges.length);
    const r = await C.replayAsTerminal(
      trace,
      await channel(card({ balance: 1000, rng: 'second' })),
      C.keysFromIssuer(issuer),
      cipher,
      'card',
    );
    expect(r.differences).toEqual([]);
    expect(r.exchanges).toBe(cardTrace.exchanges.length);
    // Line numbers are those of the v2 file.
    const other = await C.replayAsTerminal(
      trace,
      await channel(card({ balance: 900, rng: 'third' })),
      C.keysFromIssuer(issuer),
      cipher,
      'card',
    );
    const d = other.differences.find((x) => x.message === 'READ PURSE 1: balance 900, recorded 1000');
    expect(d).toBeDefined();
    expect(trace.format().split('\n')[d!.line - 1]).toMatch(/^card > 80 5C 00 01/);
  });

  it('which channel: required for several, the only one by default, refused for a v1 trace; unknown ids list the channels', async () => {
    const trace = await recordV2(card({ balance: 1000 }));
    expect(() => C.cardChannelOf(trace)).toThrow(
      /3 channels: say which is the card's \(sam \("SAM"\), svm \("SVM"\), card \("Card Slot 0"\)\)/,
    );
    expect(() => C.cardChannelOf(trace, 'nope')).toThrow(/no channel "nope"; it has sam/);
    const one = new Trace(
      { channels: [{ id: 'card', reader: 'r', at: 0 }] },
      trace.channel('card').events.map((e) => ({ ...e, channel: 'card' })),
    );
    expect(C.cardChannelOf(one).events.length).toBe(one.events.length);
    const v1 = trace.channel('card');
    expect(C.cardChannelOf(v1)).toBe(v1);
    expect(() => C.cardChannelOf(v1, 'card')).toThrow(/one channel/);
  });
});
