/**
 * Real PC/SC: a private pcscd with vpcd, our cards served through VpcdBridge, checked with tools
 * nobody here wrote (opensc-tool, scriptor, pcsc_scan) and with our PcscReader, which also drives
 * vsmartcard's own vicc. Everything runs in this one file, in order: one pcscd at a time.
 *
 * Skips with a printed reason when pcscd/vpcd/tools are missing; MP_REQUIRE_PCSC=1 (CI) turns
 * the skip into a failure.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCardFile, openCardFile } from '../../cli/cardfile/index.js';
import { DEMO_AID, buildCard, getProfile } from '../../card/os/CardProfiles.js';
import { VirtualReader } from '../../reader/VirtualReader.js';
import { CommandApdu } from '../../card/iso7816/CommandApdu.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { main } from '../../cli/main.js';
import { PcscContext } from '../../reader/PcscContext.js';
import type { PcscReader } from '../../reader/PcscReader.js';
import { VpcdBridge } from '../../reader/vpcd/VpcdBridge.js';
import {
  CardRemovedError,
  CardTimeoutError,
  ChannelClosedError,
  NoCardError,
  ReaderUnavailableError,
  UnknownReaderError,
} from '../../reader/errors.js';
import { TEST_AID, TEST_FCI, TEST_FILE, TestCard, getDataPayload } from '../reader/TestCard.js';
import {
  READER_0,
  READER_1,
  REQUIRE_PCSC,
  pcscMissing,
  runTool,
  startCardServe,
  startPcscd,
  startVicc,
  until,
  type Child,
  type PrivatePcscd,
} from './harness.js';

const missing = pcscMissing(['opensc-tool', 'scriptor', 'pcsc_scan', 'cc', 'vicc']);
if (missing) console.warn(`real PC/SC tests ${REQUIRE_PCSC ? 'FAIL' : 'skipped'}: ${missing}`);

const SELECT_HEX = '00A4040007' + toHex(TEST_AID) + '00';
/** SELECT of the card runtime's demo application, no FCI (P2=0C). */
const SELECT_DEMO_NO_FCI = '00A4040C08' + DEMO_AID;
/** The first bytes of its transparent EF 5001 (card/os/CardProfiles.ts sample). */
const DEMO_EF_START = new TextEncoder().encode('meterpurse demo ');
const apdu = (hex: string) => CommandApdu.decode(fromHex(hex));
/** opensc-tool / scriptor print bytes as "6F 08 84 ...". */
const spaced = (b: Uint8Array | string) =>
  (typeof b === 'string' ? b : toHex(b)).replace(/(..)(?!$)/g, '$1 ');

describe('real PC/SC prerequisites', () => {
  // Always runs: fails when MP_REQUIRE_PCSC=1 (CI) and a tool is missing; otherwise the suite
  // below runs, or is reported as skipped with the reason printed above.
  it('are installed, or not required (MP_REQUIRE_PCSC unset)', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe.skipIf(missing !== undefined)('real PC/SC through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let ctx: PcscContext;
  let card: TestCard;
  let t0card: TestCard;
  let bridge: VpcdBridge;
  let bridge1: VpcdBridge | undefined;
  const bridgeLog: string[] = [];
  let r0: PcscReader;
  let r1: PcscReader;

  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    // libpcsclite reads this once, at the first context of the process.
    process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    card = new TestCard();
    t0card = new TestCard({ t0: true });
    bridge = new VpcdBridge(card, { port: pcscd.port, log: (l) => bridgeLog.push(l) }).start();
    bridge1 = new VpcdBridge(t0card, { port: pcscd.port + 1 }).start();
    await bridge.waitConnected(5000);
    await bridge1.waitConnected(5000);
    ctx = await PcscContext.open({ timeoutMs: 5000 });
    r0 = ctx.reader(READER_0);
    r1 = ctx.reader(READER_1);
    await r0.waitForCard(5000);
    await r1.waitForCard(5000);
  });

  afterAll(async () => {
    ctx?.close();
    await bridge?.stop();
    await bridge1?.stop();
    await pcscd?.stop();
  });

  it('pcsc_scan shows both readers and our ATRs', async () => {
    const r = await runTool('pcsc_scan', ['-n', '-t', '1'], pcscd.env, { timeoutMs: 10_000 });
    expect(r.stdout).toContain(`0: ${READER_0}`);
    expect(r.stdout).toContain(`ATR: ${spaced(card.atr)}`);
    expect(r.stdout).toContain(`ATR: ${spaced(t0card.atr)}`);
  });

  it('opensc-tool -a prints our ATR', async () => {
    const r = await runTool('opensc-tool', ['-r', '0', '-a'], pcscd.env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(
      toHex(card.atr)
        .toLowerCase()
        .replace(/(..)(?!$)/g, '$1:'),
    );
  });

  it('opensc-tool -c default -s drives our card and gets the exact answers', async () => {
    const r = await runTool(
      'opensc-tool',
      ['-r', '0', '-c', 'default', '-s', SELECT_HEX, '-s', '00B0000010', '-s', '00CA010400'],
      pcscd.env,
    );
    expect(r.code).toBe(0);
    const received = r.stdout.split('Received').slice(1);
    expect(received[0]).toContain('(SW1=0x90, SW2=0x00)');
    expect(received[0]).toContain(spaced(TEST_FCI));
    expect(received[1]).toContain(spaced(TEST_FILE));
    // 32 bytes of GET DATA pattern.
    expect(received[2]).toContain(spaced(getDataPayload(4).subarray(0, 16)));
    expect(received[2]).toContain(spaced(getDataPayload(4).subarray(16, 32)));
  });

  it('scriptor drives our card (T=1) and our T=0 card, which answers 61xx to a case 4', async () => {
    const r = await runTool('scriptor', ['-r', READER_0], pcscd.env, {
      input: `${spaced(SELECT_HEX)}\n00 B0 00 00 10\n`,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Using T=1 protocol');
    expect(r.stdout).toContain(`< ${spaced(TEST_FCI)} 90 00 : Normal processing.`);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain(`< ${spaced(TEST_FILE)} 90 00 : Normal processing.`);
    const t0 = await runTool('scriptor', ['-r', READER_1], pcscd.env, {
      input: `${spaced(SELECT_HEX)}\n00 C0 00 00 0A\n`,
    });
    expect(t0.stdout).toContain('Using T=0 protocol');
    expect(t0.stdout).toContain('< 61 0A');
    expect(t0.stdout).toContain(`< ${spaced(TEST_FCI)} 90 00 : Normal processing.`);
  });

  it('opensc-tool without -c default probes with other card types; our card answers every probe', async () => {
    const before = card.log.length;
    const r = await runTool('opensc-tool', ['-r', '0', '-n'], pcscd.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Unsupported card|Unknown/);
    expect(bridge.stats.cardErrors).toBe(0);
    expect(card.log.length).toBeGreaterThanOrEqual(before);
  });

  it('PcscReader: T=1 card, case 4, 61xx chain of 2048 bytes, extended Ne=65536', async () => {
    const ch = await r0.connect();
    expect(ch.protocol).toBe('T=1');
    expect(toHex(ch.atr)).toBe(toHex(card.atr));
    expect(toHex((await ch.transmit(apdu(SELECT_HEX))).encode())).toBe(toHex(TEST_FCI) + '9000');
    const chained = await ch.transmit(apdu('00CA010000'));
    expect(toHex(chained.data)).toBe(toHex(getDataPayload(0)));
    const ext = await ch.transmit(new CommandApdu({ cla: 0, ins: 0xca, p1: 1, p2: 0, ne: 65536 }));
    expect(ext.data.length).toBe(2048);
    expect(toHex(card.log.at(-1)!)).toBe('00CA0100000000');
    // Warm reset through pcscd reaches the card (vpcd control 02) and clears its selection.
    const resets = card.resets;
    expect(toHex(await ch.reset())).toBe(toHex(card.atr));
    expect(card.resets).toBeGreaterThan(resets);
    expect((await ch.transmit(apdu('00B0000010'))).sw).toBe(0x6986);
    await ch.disconnect();
    await expect(ch.transmit(apdu(SELECT_HEX))).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it('PcscReader: T=0 card through pcscd, case 4 as case 3 + GET RESPONSE, 6Cxx re-send', async () => {
    const ch = await r1.connect();
    expect(ch.protocol).toBe('T=0');
    t0card.log.length = 0;
    expect(toHex((await ch.transmit(apdu(SELECT_HEX))).data)).toBe(toHex(TEST_FCI));
    expect(toHex((await ch.transmit(apdu('00B0000004'))).data)).toBe(toHex(TEST_FILE));
    expect(t0card.log.map(toHex)).toEqual([
      '00A4040007' + toHex(TEST_AID),
      '00C000000A',
      '00B0000004',
      '00B0000010',
    ]);
    await ch.disconnect();
  });

  it('unknown reader name: UnknownReaderError listing the readers', async () => {
    expect(() => ctx.reader('Nonexistent Reader 00 00')).toThrow(UnknownReaderError);
    try {
      ctx.reader('Nonexistent Reader 00 00');
    } catch (e) {
      expect((e as UnknownReaderError).available).toEqual(expect.arrayContaining([READER_0, READER_1]));
      expect((e as Error).message).toContain(`'${READER_0}'`);
    }
    await expect(ctx.waitForReader('Nonexistent Reader 00 00', 100)).rejects.toBeInstanceOf(
      UnknownReaderError,
    );
  });

  it('card removed mid-exchange (bridge drops while the card works): CardRemovedError, then reconnect after re-insertion', async () => {
    const ch = await r1.connect();
    let pull = false;
    const dropping = new TestCard({
      t0: true,
      onTransmit: () => {
        if (pull) void bridge1!.stop();
      },
    });
    // Swap the T=0 slot's card for one that pulls itself out on demand.
    await ch.disconnect();
    await bridge1!.stop();
    await r1.waitForRemoval(5000);
    bridge1 = new VpcdBridge(dropping, { port: pcscd.port + 1, initialDelayMs: 50 }).start();
    await r1.waitForCard(5000);
    const live = await r1.connect();
    expect((await live.transmit(apdu(SELECT_HEX))).sw).toBe(0x9000);
    pull = true;
    const err = await live.transmit(apdu('00B0000010')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardRemovedError);
    expect((err as Error).message).toMatch(/'Virtual PCD 00 01' gave no answer to 00B0000010/);
    await r1.waitForRemoval(5000);
    await expect(live.transmit(apdu(SELECT_HEX))).rejects.toBeInstanceOf(CardRemovedError);
    await expect(r1.connect()).rejects.toBeInstanceOf(NoCardError);
    // Re-insert: a fresh connect works; the old channel stays dead.
    pull = false;
    bridge1.start();
    await r1.waitForCard(5000);
    const again = await r1.connect();
    expect(toHex((await again.transmit(apdu(SELECT_HEX))).data)).toBe(toHex(TEST_FCI));
    await expect(live.transmit(apdu(SELECT_HEX))).rejects.toBeInstanceOf(CardRemovedError);
    await again.disconnect();
  });

  it('waitForCard on an empty slot times out with CardTimeoutError', async () => {
    await bridge1!.stop();
    await r1.waitForRemoval(5000);
    const err = await r1.waitForCard(100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardTimeoutError);
    expect((err as Error).message).toContain(READER_1);
  });

  it("PcscReader drives vsmartcard's vicc (iso7816) just like our card", async () => {
    const vicc = startVicc(pcscd.port + 1, pcscd.env);
    try {
      await r1.waitForCard(15_000);
      const ch = await r1.connect();
      expect(toHex(ch.atr)).toBe('3B951381018073FF01000B');
      // vicc's ISO 7816 card: MF selectable, unknown AID not found, unknown INS refused.
      expect((await ch.transmit(apdu('00A4000C023F00'))).sw).toBe(0x9000);
      expect((await ch.transmit(apdu(SELECT_HEX))).sw).toBe(0x6a82);
      expect((await ch.transmit(apdu('00EE000000'))).sw).toBe(0x6d00);
      await ch.disconnect();
    } finally {
      await vicc.stop();
    }
    await r1.waitForRemoval(5000);
    expect(vicc.output()).not.toMatch(/Traceback/);
  });

  describe('the card runtime served by `meterpurse card serve` (a separate process)', () => {
    let dir: string;
    let child: Child | undefined;
    const fresh = (profile: string): string => {
      const file = join(dir, `${profile}.card`);
      createCardFile(file, buildCard(profile, getProfile(profile).defaultConfig()));
      return file;
    };
    /** What EF 5001 of the demo application holds, read in-process from the card file. */
    const onDisk = async (file: string, n: number): Promise<string> => {
      const ch = await new VirtualReader('check', openCardFile(file).card).connect();
      await ch.transmit(apdu(SELECT_DEMO_NO_FCI));
      return toHex((await ch.transmit(apdu(`00B08100${n.toString(16).padStart(2, '0')}`))).encode());
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mp-pcsc-cards-'));
    });
    afterEach(async () => {
      await child?.stop('SIGKILL');
      child = undefined;
      await r1.waitForRemoval(5000).catch(() => undefined);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('opensc-tool and scriptor drive it with exact answers; a PIN-guarded update survives SIGTERM', async () => {
      const file = fresh('iso-fs');
      child = await startCardServe(file, pcscd.port + 1, pcscd.env);
      const atr = toHex(openCardFile(file).card.atr);
      expect(toHex(await r1.waitForCard(5000))).toBe(atr);
      const a = await runTool('opensc-tool', ['-r', '1', '-a'], pcscd.env);
      expect(a.stdout.trim().replace(/:/g, '').toUpperCase()).toBe(atr);
      const s = await runTool(
        'opensc-tool',
        ['-r', '1', '-c', 'default', '-s', SELECT_DEMO_NO_FCI, '-s', '00B0810010'],
        pcscd.env,
      );
      const received = s.stdout.split('Received').slice(1);
      expect(received[0]!.split('\n')[0]).toBe(' (SW1=0x90, SW2=0x00)');
      expect(received[1]).toContain('(SW1=0x90, SW2=0x00)');
      expect(received[1]).toContain(spaced(DEMO_EF_START));
      const script = [
        SELECT_DEMO_NO_FCI,
        '00D6810004CAFEBABE',
        '002000810831323334FFFFFFFF',
        '00D6810004CAFEBABE',
        '00B0810004',
      ];
      const sc = await runTool('scriptor', ['-r', READER_1], pcscd.env, {
        input: script.map(spaced).join('\n') + '\n',
      });
      const answers = [...sc.stdout.matchAll(/^< (.*?)(?: :.*)?$/gm)].map((m) => m[1]!.trim());
      expect(answers).toEqual(['90 00', '69 82', '90 00', '90 00', 'CA FE BA BE 90 00']);
      // opensc-tool without -c default probes other card types first; every probe gets an answer.
      const probe = await runTool('opensc-tool', ['-r', '1', '-n'], pcscd.env);
      expect(probe.code).toBe(0);
      expect(child.output()).not.toMatch(/failed|6F00/);
      await child.stop('SIGTERM');
      expect(child.process.exitCode).toBe(0);
      expect(await onDisk(file, 4)).toBe('CAFEBABE9000');
    });

    it('PcscReader drives it over T=1: case 4 SELECT, Le=00 read, extended read of 300 bytes', async () => {
      const file = fresh('iso-fs');
      child = await startCardServe(file, pcscd.port + 1, pcscd.env);
      await r1.waitForCard(5000);
      const ch = await r1.connect();
      expect(ch.protocol).toBe('T=1');
      const fci = await ch.transmit(apdu('00A4040008' + DEMO_AID + '00'));
      expect(fci.sw).toBe(0x9000);
      expect(toHex(fci.data)).toMatch(new RegExp(`^6F..8201388302500084 08${DEMO_AID}`.replace(' ', '')));
      const short = await ch.transmit(apdu('00B0810000'));
      expect(short.data.length).toBe(256);
      expect(toHex(short.data.subarray(0, 16))).toBe(toHex(DEMO_EF_START));
      const ext = await ch.transmit(new CommandApdu({ cla: 0, ins: 0xb0, p1: 0x81, p2: 0, ne: 300 }));
      expect(ext.data.length).toBe(300);
      expect(toHex(ext.data.subarray(0, 256))).toBe(toHex(short.data));
      await ch.disconnect();
    });

    it('PcscReader drives the T=0 profile: case 4 as case 3 + GET RESPONSE, 6Cxx re-send', async () => {
      const file = fresh('iso-fs-t0');
      child = await startCardServe(file, pcscd.port + 1, pcscd.env);
      await r1.waitForCard(5000);
      const ch = await r1.connect();
      expect(ch.protocol).toBe('T=0');
      const fci = await ch.transmit(apdu('00A4040008' + DEMO_AID + '00'));
      expect(fci.sw).toBe(0x9000);
      expect(fci.data.length).toBe(0x16);
      expect((await ch.transmit(apdu('00A4020C025001'))).sw).toBe(0x9000);
      // Offset 296 of a 300-byte EF with Le=16: the card says 6C04, the channel resends Le=4.
      expect(toHex((await ch.transmit(apdu('00B0012810'))).encode())).toBe('000000009000');
      await ch.disconnect();
    });

    it('the card process dies (SIGKILL): CardRemovedError naming the reader; the card file stays whole', async () => {
      const file = fresh('iso-fs');
      child = await startCardServe(file, pcscd.port + 1, pcscd.env);
      await r1.waitForCard(5000);
      const ch = await r1.connect();
      for (const c of [SELECT_DEMO_NO_FCI, '002000810831323334FFFFFFFF', '00D6810004DEADBEEF']) {
        expect((await ch.transmit(apdu(c))).sw).toBe(0x9000);
      }
      child.process.kill('SIGKILL');
      await until(() => child!.process.signalCode !== null, 5000, 'the card process to die');
      const err = await ch.transmit(apdu('00B0810004')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CardRemovedError);
      expect((err as Error).message).toContain(`'${READER_1}'`);
      await r1.waitForRemoval(5000);
      await expect(r1.connect()).rejects.toBeInstanceOf(NoCardError);
      // Saved before the answer went out, so the update is on disk and the file opens.
      expect(await onDisk(file, 4)).toBe('DEADBEEF9000');
    });
  });

  it('meterpurse readers lists the vpcd readers with our ATR', async () => {
    let out = '';
    const code = await main(['readers'], { out: (t) => (out += t), err: (t) => (out += t) });
    expect(code).toBe(0);
    expect(out).toContain(`${READER_0}\tcard ${toHex(card.atr)}\n`);
    expect(out).toContain(`${READER_1}\t`);
  });

  it('pcscd gone (reader unplugged): open channel and new contexts fail with ReaderUnavailableError', async () => {
    const ch = await r0.connect();
    expect((await ch.transmit(apdu(SELECT_HEX))).sw).toBe(0x9000);
    let gone = '';
    r0.onEvent((e) => {
      if (e.type === 'unavailable') gone = e.reason;
    });
    pcscd.process.kill('SIGKILL');
    await until(
      () => pcscd.process.exitCode !== null || pcscd.process.signalCode !== null,
      5000,
      'pcscd to die',
    );
    await until(() => gone !== '', 5000, 'the reader to be reported unavailable');
    const err = await ch.transmit(apdu('00B0000010')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReaderUnavailableError);
    expect((err as Error).message).toMatch(
      /PC\/SC reader 'Virtual PCD 00 00' went away: (status watch failed|PC\/SC context failed)/,
    );
    await expect(r0.connect()).rejects.toBeInstanceOf(ReaderUnavailableError);
    await expect(PcscContext.open({ timeoutMs: 2000 })).rejects.toBeInstanceOf(ReaderUnavailableError);
    let out = '';
    expect(await main(['readers'], { out: (t) => (out += t), err: (t) => (out += t) })).toBe(1);
    expect(out).toMatch(/meterpurse readers: the PC\/SC service is not running: start pcscd/);
  });
});
