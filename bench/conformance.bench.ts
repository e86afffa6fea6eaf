// Conformance-run time (issue 14, "Measured"): the full card suite of `meterpurse conformance
// card` through a private pcscd + vpcd against `card serve` of a `card new --profile subscriber`
// file, in process (PcscReader), RUNS times. Needs root (test/pcsc/harness.ts); skipped otherwise.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.js';
import { READER_0, pcscMissing, startCardServe, startPcscd } from '../test/pcsc/harness.js';
import { main } from '../cli/main.js';
import { IssuerKeys, NodeCipherProvider } from '../card/index.js';
import { PcscContext } from '../reader/index.js';
import { conformance as C } from '../terminal/index.js';
import { percentiles } from './measure.js';

const RUNS = Number(process.env['CONFORMANCE_RUNS'] ?? 10);

export default async function bench(): Promise<Figure[]> {
  const missing = pcscMissing(['cc']);
  if (missing) {
    console.log(`  (skipped: ${missing})`);
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'conformance-bench-'));
  const pcscd = await startPcscd({ nodelay: true });
  process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
  const keyFile = join(dir, 'card.key');
  const file = join(dir, 'sub.card');
  const quiet = { out: () => {}, err: (t: string) => process.stderr.write(t) };
  if (
    (await main(
      ['card', 'new', '--profile', 'subscriber', '--out', file, '--key-file', keyFile, '--balance', '2500'],
      quiet,
    )) !== 0
  )
    throw new Error('card new failed');
  const serve = await startCardServe(file, pcscd.port, { ...pcscd.env, MP_CARD_KEY_FILE: keyFile });
  const ctx = await PcscContext.open();
  try {
    const cipher = new NodeCipherProvider();
    const keys = C.keysFromIssuer(IssuerKeys.demo(cipher, '0'));
    const ms: number[] = [];
    let cases = 0;
    let apdus = 0;
    for (let i = 0; i < RUNS; i++) {
      const ch = await ctx.reader(READER_0).connect();
      let n = 0;
      const counting = {
        ...ch,
        readerName: ch.readerName,
        atr: ch.atr,
        protocol: ch.protocol,
        transmit: (c: Parameters<typeof ch.transmit>[0]) => (n++, ch.transmit(c)),
        reset: () => ch.reset(),
        disconnect: () => ch.disconnect(),
      };
      const t0 = performance.now();
      const r = await C.runCardSuite(counting, { keys, cipher });
      ms.push(performance.now() - t0);
      await ch.disconnect();
      if (!C.passed({ ...r })) throw new Error(C.textReport(r));
      cases = r.cases.length;
      apdus = n;
    }
    const { median, p99 } = percentiles(ms);
    return [
      {
        name: `full card suite through pcscd (${cases} cases, ${apdus} APDUs), median of ${RUNS}`,
        value: median,
        unit: 'ms',
      },
      { name: '  worst run', value: p99, unit: 'ms' },
      { name: '  APDUs per second through pcscd + vpcd', value: (apdus * 1000) / median, unit: 'APDU/s' },
    ];
  } finally {
    ctx.close();
    await serve.stop();
    await pcscd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
