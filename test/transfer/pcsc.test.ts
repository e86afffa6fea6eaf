/**
 * The purse cards through real PC/SC: a subscriber card (T=1 and T=0 profiles) served to a private
 * pcscd through vpcd (reader/vpcd/VpcdBridge), reached with PcscReader, and a complete card-to-SVM
 * transfer run over that channel (SAM and SVM in-process). Skipped where pcscd/vpcd are missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcscContext } from '../../reader/PcscContext.js';
import { VpcdBridge } from '../../reader/vpcd/VpcdBridge.js';
import { runCardSession } from '../../terminal/CardTransfer.js';
import { fromHex } from '../../card/util/hex.js';
import {
  READER_0,
  READER_1,
  REQUIRE_PCSC,
  pcscMissing,
  startPcscd,
  type PrivatePcscd,
} from '../pcsc/harness.js';
import { NOW, World } from './world.js';

const missing = pcscMissing(['cc']);
if (missing) console.warn(`purse-over-PC/SC tests ${REQUIRE_PCSC ? 'FAIL' : 'skipped'}: ${missing}`);

describe('purse over PC/SC prerequisites', () => {
  // Always runs: fails when MP_REQUIRE_PCSC=1 (CI) and a tool is missing; otherwise the suite
  // below runs, or is reported as skipped with the reason printed above.
  it('are installed, or not required (MP_REQUIRE_PCSC unset)', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe.skipIf(missing !== undefined)('card-to-SVM transfer over pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let ctx: PcscContext;
  const t1 = new World({ cardBalance: 4_000, seed: 'pcsc' });
  const t0 = new World({
    cardBalance: 3_000,
    seed: 'pcsc',
    protocol: 'T=0',
    csn: fromHex('4D50000000000007'),
  });
  const bridges: VpcdBridge[] = [];

  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    bridges.push(new VpcdBridge(t1.card.os, { port: pcscd.port }).start());
    bridges.push(new VpcdBridge(t0.card.os, { port: pcscd.port + 1 }).start());
    for (const b of bridges) await b.waitConnected(5000);
    ctx = await PcscContext.open({ timeoutMs: 5000 });
  });

  afterAll(async () => {
    ctx?.close();
    for (const b of bridges) await b.stop();
    await pcscd?.stop();
  });

  for (const [name, reader, w, amount] of [
    ['T=1', READER_0, t1, 4_000],
    ['T=0', READER_1, t0, 3_000],
  ] as const) {
    it(`${name} card: a complete transfer through pcscd`, async () => {
      const r = ctx.reader(reader);
      await r.waitForCard(5000);
      const ch = await r.connect();
      expect(ch.protocol).toBe(name);
      const o = await runCardSession(await w.meter(), ch, { purse: 1, dateTime: NOW });
      expect(o).toMatchObject({ amount, cardBalance: 0, svmBalance: amount, recovery: 'none' });
      expect(w.cardView().purses[0]).toMatchObject({ balance: 0, counter: 1 });
      await ch.disconnect();
    });
  }
});
