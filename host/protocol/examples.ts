/**
 * Worked examples of the three seed-000 commands from a seeded run, as printed in
 * docs/host-protocol.md (`npx tsx host/protocol/examples.ts` prints them). The document's test
 * (test/host/protocolDoc.test.ts) recomputes every derived field from the inputs, so the document
 * cannot drift from the code.
 */
import { HostKeyRing, NodeCipherProvider, SeededRng } from '../../card/index.js';
import { fromHex, toHex } from '../../card/index.js';
import { RtcTime } from '../../protocol/index.js';
import { TariffTable } from '../../protocol/index.js';
import { SimulatedMeterTerminal } from '../sim/SimulatedMeterTerminal.js';
import { H_TARIFF, H_USAGE, H_VALUE_STORE } from '../../protocol/index.js';
import { HostProtocol } from './HostProtocol.js';
import type { SessionTrace } from './HostProtocol.js';
import { encodeMessage } from '../../protocol/index.js';
import { encodeValueStorePlain } from '../../protocol/index.js';
import { txId } from '../../protocol/index.js';

export const EXAMPLE_KH = fromHex('0123456789ABCDEFFEDCBA9876543210');
export const EXAMPLE_ID = fromHex('12AB34');
export const EXAMPLE_N = 1;

export type ExampleName = 'value-store' | 'tariff' | 'usage';

/** Ordered (field, hex) pairs of one example. */
export async function workedExample(name: ExampleName): Promise<Array<[string, string]>> {
  const cipher = new NodeCipherProvider();
  const ring = HostKeyRing.of([
    [0, fromHex('404142434445464748494A4B4C4D4E4F')],
    [EXAMPLE_N, EXAMPLE_KH],
  ]);
  const kt = ring.terminalKey(cipher, EXAMPLE_N, EXAMPLE_ID);
  const meter = new SimulatedMeterTerminal(cipher, new SeededRng(`doc-meter-${name}`), {
    id: EXAMPLE_ID,
    terminalKeys: new Map([[EXAMPLE_N, kt]]),
    balance: 12_345,
    clock: RtcTime.of(2026, 11, 22, 7, 58, 26).seconds,
    energyWh: 1_234_567,
  });
  const host = new HostProtocol(cipher, new SeededRng(`doc-host-${name}`), () => ring);
  const ref = { id: EXAMPLE_ID, keyVersion: EXAMPLE_N };
  const t: SessionTrace = {};
  const out: Array<[string, string]> = [
    ['KH', toHex(EXAMPLE_KH)],
    ['n', toHex(Uint8Array.of(EXAMPLE_N))],
    ['ID', toHex(EXAMPLE_ID)],
    ['KT', toHex(kt)],
  ];
  let h: number;
  let plain: Uint8Array | undefined;
  if (name === 'value-store') {
    h = H_VALUE_STORE;
    plain = encodeValueStorePlain({ amount: 5000, txId: txId(0x2a_0000_0001n) });
    await host.valueStore(meter.asTerminal(), ref, 5000, txId(0x2a_0000_0001n), t);
  } else if (name === 'tariff') {
    h = H_TARIFF;
    await host.changeTariff(meter.asTerminal(), ref, RtcTime.of(2026, 12, 1), TariffTable.flat(130, 100), t);
  } else {
    h = H_USAGE;
    meter.consume(700);
    await host.usageCheck(meter.asTerminal(), ref, RtcTime.of(2026, 11, 22, 8, 0, 0), t);
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
  out.push(
    ['payload', toHex(t.payload!)],
    ['S2h', toHex(t.s2h!)],
    ['answer', toHex(t.answer!)],
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
  for (const n of ['value-store', 'tariff', 'usage'] as const) {
    console.log(`<!-- example: ${n} -->\n\`\`\`text\n${formatExample(await workedExample(n))}\n\`\`\`\n`);
  }
}
