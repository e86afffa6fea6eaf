/**
 * Worked examples of the host commands from a seeded run, as printed in docs/host-protocol.md
 * (`npx tsx host/protocol/examples.ts` prints them): the three seed-000 commands, H = 56 (blacklist)
 * and H = 57 (card commands). The document's test (test/host/protocolDoc.test.ts) recomputes every
 * derived field from the inputs, so the document cannot drift from the code.
 *
 * Field names: `p.*` are the payload's fields in wire order (they concatenate to `payload`), `a.*`
 * the decrypted answer's (they concatenate to `answer`); other dotted names decompose one of those.
 */
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../../card/index.js';
import { be16, be32, fromHex, toHex } from '../../card/index.js';
import {
  AID_PURSE,
  CommandApdu,
  IssuerKeys,
  OfflineReading,
  ResponseApdu,
  defaultPurses,
  makeSubscriberCard,
  offlineReadingMacInput,
  signRemoteLoad,
} from '../../card/index.js';
import type { RemoteLoadFields } from '../../card/index.js';
import { apdus } from '../../terminal/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import { SimulatedMeterTerminal } from '../sim/SimulatedMeterTerminal.js';
import { H_BLACKLIST, H_CARD_COMMANDS, H_TARIFF, H_USAGE, H_VALUE_STORE } from '../../protocol/index.js';
import { CARD_INS_REMOTE_LOAD } from '../../protocol/index.js';
import type { BlacklistUpdate, CardCommandsRequest } from '../../protocol/index.js';
import { HostProtocol } from './HostProtocol.js';
import type { SessionTrace } from './HostProtocol.js';
import { encodeMessage } from '../../protocol/index.js';
import { encodeValueStorePlain } from '../../protocol/index.js';
import { txId } from '../../protocol/index.js';

export const EXAMPLE_KH = fromHex('0123456789ABCDEFFEDCBA9876543210');
export const EXAMPLE_ID = fromHex('12AB34');
export const EXAMPLE_N = 1;

export type ExampleName =
  'value-store' | 'tariff' | 'usage' | 'blacklist' | 'card-commands-queue' | 'card-commands';
export const EXAMPLE_NAMES: readonly ExampleName[] = [
  'value-store',
  'tariff',
  'usage',
  'blacklist',
  'card-commands-queue',
  'card-commands',
];

/** The card-commands example's world: the demo issuer and card of docs/purse-spec.md §13. */
export const EXAMPLE_ISSUER_SEED = 'purse-spec';
export const EXAMPLE_CSN = fromHex('4D50000000000001');
export const EXAMPLE_GAS = 0x02;
/** The gas utility's offline meter whose reading the card carries (docs/purse-spec.md §13.4). */
export const EXAMPLE_GAS_METER = fromHex('000456');

type Fields = Array<[string, string]>;
/** A u8 / u16 / u32 field as the wire carries it, in hex. */
const hx = (v: number, bytes: 1 | 2 | 4) =>
  toHex(bytes === 1 ? Uint8Array.of(v) : bytes === 2 ? be16(v) : be32(v));

/**
 * The card-commands world: the gas utility signs REMOTE LOAD seq 1 (50.00) for the card's gas purse
 * and its relay sends it as id 1 (`request`); `deliver()` is the card at the meter's slot between
 * the two sessions — the real card's answer to the slot's APDU, and the gas meter's reading the slot
 * found on it. Real bytes throughout, so the doc's receipt and reading MAC verify under the utility's
 * keys (they equal docs/purse-spec.md §13.2 and §13.4).
 */
function cardCommandsWorld(cipher: NodeCipherProvider, meter: SimulatedMeterTerminal) {
  const issuer = IssuerKeys.demo(cipher, EXAMPLE_ISSUER_SEED);
  const f: RemoteLoadFields = {
    csn: EXAMPLE_CSN,
    purse: EXAMPLE_GAS,
    seq: 1,
    amount: 5000,
    sellerId: fromHex('47415331'), // "GAS1"
    dateTime: fromHex('261122083000'),
  };
  const data = signRemoteLoad(issuer, f);
  const request: CardCommandsRequest = {
    ackBelow: 0,
    commands: [{ id: 1, csn: EXAMPLE_CSN, ins: CARD_INS_REMOTE_LOAD, p2: EXAMPLE_GAS, data }],
    forget: [],
  };
  // The card, as personalised in docs/purse-spec.md (every purse 100.00), and the APDU the slot sends.
  const card = makeSubscriberCard(issuer, {
    csn: EXAMPLE_CSN,
    purses: defaultPurses(10_000),
    rng: new SeededRng(`${EXAMPLE_ISSUER_SEED}:card`),
  });
  card.os.powerUp();
  const send = (c: CommandApdu) => ResponseApdu.decode(card.os.transmit(c.encode()));
  send(apdus.selectAid(AID_PURSE));
  const before = send(apdus.readPurse(EXAMPLE_GAS)).data;
  const c = request.commands[0]!;
  const apdu = new CommandApdu({ cla: 0x80, ins: c.ins, p1: 0, p2: c.p2, data: c.data, ne: 256 });
  const r = send(apdu);
  // The gas meter's reading (docs/purse-spec.md §13.4), MAC'd under K_offline as its SAM does.
  const unsigned = new OfflineReading({
    meterId: EXAMPLE_GAS_METER,
    purse: EXAMPLE_GAS,
    sequence: 1,
    dateTime: fromHex('261122083000'),
    cumulative: 24_000,
    sinceLastCredit: 24_000,
    emergencyUsed: 0,
    unitCharge: 110,
    configVersion: 1,
    events: 0,
    stepRegisters: [9000, 6000, 1000, 6000, 2000],
    stepPercents: [50, 75, 100, 200, 300],
    ktVersion: 1,
  });
  const kOffline = issuer.offlineMeterKey(EXAMPLE_GAS_METER, EXAMPLE_GAS, 1);
  const record = unsigned
    .withMac(issuer.crypto.mac(kOffline, offlineReadingMacInput(EXAMPLE_CSN, unsigned.signedPart())))
    .encode();
  return {
    f,
    data,
    request,
    kRemote: issuer.remoteKey(EXAMPLE_CSN, EXAMPLE_GAS),
    kOffline,
    balanceBefore: before.subarray(0, 4),
    apdu: apdu.encode(),
    card: r,
    record,
    deliver() {
      meter.cardAnswered(c.id, r.sw, r.data);
      meter.readingFound(EXAMPLE_CSN, EXAMPLE_GAS, record);
    },
  };
}

/** Ordered (field, hex) pairs of one example. */
export async function workedExample(name: ExampleName): Promise<Fields> {
  const cipher = new NodeCipherProvider();
  const ring = HostKeyRing.of([
    [0, fromHex('404142434445464748494A4B4C4D4E4F')],
    [EXAMPLE_N, EXAMPLE_KH],
  ]);
  const kt = ring.terminalKey(cipher, EXAMPLE_N, EXAMPLE_ID);
  // Both card-commands examples are sessions of one run (the first queues, the second is its retry).
  const run = name === 'card-commands-queue' ? 'card-commands' : name;
  const meter = new SimulatedMeterTerminal(cipher, new SeededRng(`doc-meter-${run}`), {
    id: EXAMPLE_ID,
    terminalKeys: new Map([[EXAMPLE_N, kt]]),
    balance: 12_345,
    clock: RtcTime.of(2026, 11, 22, 7, 58, 26).seconds,
    energyWh: 1_234_567,
  });
  const host = new HostProtocol(cipher, new SeededRng(`doc-host-${run}`), () => ring);
  const ref = { id: EXAMPLE_ID, keyVersion: EXAMPLE_N };
  const t: SessionTrace = {};
  const out: Fields = [
    ['KH', toHex(EXAMPLE_KH)],
    ['n', toHex(Uint8Array.of(EXAMPLE_N))],
    ['ID', toHex(EXAMPLE_ID)],
    ['KT', toHex(kt)],
  ];
  let h: number;
  let plain: Uint8Array | undefined;
  /** Fields after H (the payload's), and after `answer` (the answer's). */
  let payloadFields: Fields = [];
  let answerFields: (answer: Uint8Array) => Fields = () => [];
  if (name === 'value-store') {
    h = H_VALUE_STORE;
    plain = encodeValueStorePlain({ amount: 5000, txId: txId(0x2a_0000_0001n) });
    await host.valueStore(meter.asTerminal(), ref, 5000, txId(0x2a_0000_0001n), t);
  } else if (name === 'tariff') {
    h = H_TARIFF;
    await host.changeTariff(meter.asTerminal(), ref, RtcTime.of(2026, 12, 1), TariffTable.flat(130, 100), t);
  } else if (name === 'usage') {
    h = H_USAGE;
    meter.consume(700);
    await host.usageCheck(meter.asTerminal(), ref, RtcTime.of(2026, 11, 22, 8, 0, 0), t);
  } else if (name === 'blacklist') {
    h = H_BLACKLIST;
    const u: BlacklistUpdate = {
      version: 1,
      mode: 'full',
      base: 0,
      keyVersions: [EXAMPLE_N],
      cardKeyVersions: [1],
      add: [fromHex('4D50000000000007'), fromHex('4D50000000000009')],
      remove: [],
    };
    await host.sendBlacklist(meter.asTerminal(), ref, u, t);
    payloadFields = [
      ['p.version', hx(u.version, 4)],
      ['p.mode', '00'],
      ['p.base', hx(u.base, 4)],
      ['p.nK', hx(u.keyVersions.length, 1)],
      ['p.KH-versions', u.keyVersions.map((v) => hx(v, 1)).join('')],
      ['p.nC', hx(u.cardKeyVersions!.length, 1)],
      ['p.card-key-versions', u.cardKeyVersions!.map((v) => hx(v, 1)).join('')],
      ['p.nA', hx(u.add.length, 2)],
      ...u.add.map((x, i): [string, string] => [`p.add[${i}]`, toHex(x)]),
      ['p.nR', hx(u.remove.length, 2)],
    ];
    answerFields = (a) => [
      ['a.status', toHex(a.subarray(0, 1))],
      ['a.version', toHex(a.subarray(1, 5))],
      ['a.serials', toHex(a.subarray(5, 9))],
      ['a.Balance', toHex(a.subarray(9, 13))],
      ['a.ID', toHex(a.subarray(13))],
    ];
  } else {
    h = H_CARD_COMMANDS;
    const w = cardCommandsWorld(cipher, meter);
    const first = name === 'card-commands-queue';
    // The first session queues the command (its answer is lost on the way back: the host never
    // stores it); then the card comes to the slot; then the host sends the same payload again.
    await host.cardCommands(meter.asTerminal(), ref, w.request, first ? t : undefined);
    if (!first) {
      w.deliver();
      await host.cardCommands(meter.asTerminal(), ref, w.request, t);
    }
    const c = w.request.commands[0]!;
    out.push(
      ['CSN', toHex(EXAMPLE_CSN)],
      ['purse', hx(EXAMPLE_GAS, 1)],
      ['K_remote', toHex(w.kRemote)],
      ['rl.seq', hx(w.f.seq, 4)],
      ['rl.amount', hx(w.f.amount, 4)],
      ['rl.seller', toHex(w.f.sellerId)],
      ['rl.date-time', toHex(w.f.dateTime)],
      ['rl.MAC', toHex(w.data.subarray(18))],
    );
    payloadFields = [
      ['p.ackBelow', hx(w.request.ackBelow, 4)],
      ['p.nC', hx(w.request.commands.length, 1)],
      ['p.cmd[0].id', hx(c.id, 4)],
      ['p.cmd[0].CSN', toHex(c.csn)],
      ['p.cmd[0].ins', hx(c.ins, 1)],
      ['p.cmd[0].p2', hx(c.p2, 1)],
      ['p.cmd[0].Lc', hx(c.data.length, 1)],
      ['p.cmd[0].data', toHex(c.data)],
      ['p.nF', hx(w.request.forget.length, 1)],
    ];
    answerFields = (a) => {
      let o = 0;
      const take = (k: string, n: number): [string, string] => [k, toHex(a.subarray(o, (o += n)))];
      const head = [take('a.status', 1), take('a.queued', 2), take('a.next', 4), take('a.more', 1)];
      if (first) return [...head, take('a.nA', 1), take('a.nR', 1), take('a.Balance', 4), take('a.ID', 3)];
      const ans = [
        take('a.nA', 1),
        take('a.ans[0].seq', 4),
        take('a.ans[0].id', 4),
        take('a.ans[0].outcome', 1),
        take('a.ans[0].sw', 2),
        take('a.ans[0].len', 1),
        take('a.ans[0].data', w.card.data.length),
      ];
      const d = w.card.data;
      const cardFields: Fields = [
        ['card.balance-before', toHex(w.balanceBefore)],
        ['card.apdu', toHex(w.apdu)],
        ['card.outcome', toHex(d.subarray(0, 1))],
        ['card.balance', toHex(d.subarray(1, 5))],
        ['card.counter', toHex(d.subarray(5, 7))],
        ['card.receipt', toHex(d.subarray(7))],
      ];
      const rd = [
        take('a.nR', 1),
        take('a.rd[0].seq', 4),
        take('a.rd[0].CSN', 8),
        take('a.rd[0].purse', 1),
        take('a.rd[0].record', OfflineReading.LENGTH),
      ];
      const tail = [take('a.Balance', 4), take('a.ID', 3)];
      return [...head, ...ans, ...cardFields, ...rd, ['K_offline', toHex(w.kOffline)], ...tail];
    };
  }
  out.push(
    ['R1', toHex(t.r1!)],
    ['R2', toHex(t.r2!)],
    ['Ks', toHex(t.ks!)],
    ['S1', toHex(t.s1t!)],
    ['R3', toHex(t.r3!)],
    ['H', toHex(Uint8Array.of(h))],
  );
  if (plain) out.push(['amount-plain', toHex(plain)]);
  out.push(...payloadFields);
  out.push(['payload', toHex(t.payload!)], ['S2h', toHex(t.s2h!)], ['answer', toHex(t.answer!)]);
  out.push(...answerFields(t.answer!));
  out.push(
    ['M', toHex(t.m!)],
    ['msg-init-request', toHex(encodeMessage({ kind: 'init-request', r1: t.r1!, r2: t.r2!, n: EXAMPLE_N }))],
    ['msg-init-response', toHex(encodeMessage({ kind: 'init-response', s1t: t.s1t!, r3: t.r3! }))],
    [
      'msg-command-request',
      toHex(encodeMessage({ kind: 'command-request', h, payload: t.payload!, s2h: t.s2h! })),
    ],
    ['msg-command-response', toHex(encodeMessage({ kind: 'command-response', m: t.m! }))],
  );
  return out;
}

/** The text block of one example as it stands in the document (long values wrapped at 64 digits). */
export function formatExample(fields: Array<[string, string]>): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields
    .map(([k, v]) => {
      const chunks = v.match(/.{1,64}/g) ?? [''];
      return `${k.padEnd(w)} = ${chunks.join(`\n${' '.repeat(w + 3)}`)}`;
    })
    .join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const n of EXAMPLE_NAMES) {
    console.log(`<!-- example: ${n} -->\n\`\`\`text\n${formatExample(await workedExample(n))}\n\`\`\`\n`);
  }
}
