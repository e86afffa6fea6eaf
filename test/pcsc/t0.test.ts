/**
 * The protocol pcscd picks from a subscriber card's ATR is the protocol the card answers by.
 *
 * A private pcscd with vpcd; `meterpurse card new` makes the cards and `meterpurse card serve`
 * serves them (separate processes); scriptor (pcsc-tools, nobody here wrote it) drives them with
 * the protocol pcscd picks from the ATR:
 * - the T=1 subscriber card offers T=1 only (TD1 = 01): pcscd refuses T=0 and picks T=1; a case 4
 *   SELECT gets the FCI with 9000, READ PURSE with Le = 00 gets its 17 bytes;
 * - the T=0 subscriber card (no TD1: T=0 only): pcscd picks T=0; the case 4 SELECT gets 61xx and
 *   the FCI by GET RESPONSE, READ PURSE with P3 = 00 gets 6C11, then 17 bytes with P3 = 11.
 *
 * Skips with a printed reason when not root or pcscd/vpcd/scriptor are missing; MP_REQUIRE_PCSC=1
 * (CI) turns the skip into a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Atr } from '../../card/iso7816/Atr.js';
import { PcscContext } from '../../reader/PcscContext.js';
import { ATR_SUBSCRIBER_T0, ATR_SUBSCRIBER_T1 } from '../../card/applets/profiles.js';
import {
  READER_0,
  READER_1,
  REPO,
  REQUIRE_PCSC,
  pcscMissing,
  runTool,
  startCardServe,
  startPcscd,
  type Child,
  type PrivatePcscd,
} from './harness.js';

const missing = pcscMissing(['scriptor', 'cc']);
if (missing) console.warn(`T=0/T=1 PC/SC tests ${REQUIRE_PCSC ? 'FAIL' : 'skipped'}: ${missing}`);

const SELECT_SUBSCRIBER = '00 A4 04 00 08 F0 4D 50 55 52 53 45 01 00';
/** READ PURSE of purse 01 (electricity), Le = 00 (docs/purse-spec.md §3.5). */
const READ_PURSE_LE00 = '80 5C 00 01 00';
/** The 17 bytes of READ PURSE on a new card: balance 0, counter, limits, ... (as pinned below). */
const PURSE_01_NEW = '00 00 00 00 00 07 A1 20 00 01 86 A0 03 D2 00 00 00';
/** Length of the subscriber FCI (6F 2F …): 49 bytes. */
const FCI_LENGTH = 0x31;

/** scriptor's answers ("< 61 31 : …"), line-wrapped bytes joined, without the explanation. */
function answers(stdout: string): string[] {
  return [...stdout.replace(/\n(?=[0-9A-F]{2} )/g, ' ').matchAll(/^< (.*?)(?: :.*)?$/gm)].map((m) =>
    m[1]!.replace(/\s+/g, ' ').trim(),
  );
}

describe('real PC/SC prerequisites for the protocol tests', () => {
  it('are installed, or not required (MP_REQUIRE_PCSC unset)', () => {
    expect(REQUIRE_PCSC && missing ? `MP_REQUIRE_PCSC=1 but ${missing}` : undefined).toBeUndefined();
  });
});

describe('the ATR of a subscriber card offers only the protocol the card answers by', () => {
  it('T=1 card: TD1 = 01, T=1 only; T=0 card: no TD1, T=0 only', () => {
    expect(Atr.parse(ATR_SUBSCRIBER_T1).protocols).toEqual([1]);
    expect(Atr.parse(ATR_SUBSCRIBER_T1).td(1)).toBe(0x01);
    expect(Atr.parse(ATR_SUBSCRIBER_T0).protocols).toEqual([0]);
  });
});

describe.skipIf(missing !== undefined)('scriptor through pcscd + vpcd: the protocol pcscd picks', () => {
  let pcscd: PrivatePcscd;
  let dir: string;
  const children: Child[] = [];
  let ctx: PcscContext;

  const cli = (args: string[]) =>
    runTool(process.execPath, ['--import', 'tsx', join(REPO, 'test/pcsc/cli-entry.ts'), ...args], pcscd.env, {
      timeoutMs: 30_000,
    });

  async function serve(profile: string, slot: 0 | 1): Promise<void> {
    const file = join(dir, `${profile}.card`);
    const made = await cli(['card', 'new', '--profile', profile, '--out', file]);
    expect(made.code, made.stderr).toBe(0);
    children.push(await startCardServe(file, pcscd.port + slot, pcscd.env));
    // Wait for the card without connecting: the first connect fixes the protocol until reset.
    await ctx.reader(slot === 0 ? READER_0 : READER_1).waitForCard(10_000);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-pcsc-t0-'));
    pcscd = await startPcscd({ nodelay: true });
    // libpcsclite reads this once, at the first context of the process.
    process.env.PCSCLITE_CSOCK_NAME = pcscd.socket;
    ctx = await PcscContext.open({ timeoutMs: 5000 });
  });

  afterAll(async () => {
    ctx?.close();
    for (const c of children) await c.stop('SIGKILL');
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('T=1 subscriber: pcscd refuses T=0, picks T=1; SELECT gives FCI + 9000, READ PURSE Le=00 gives 17 bytes', async () => {
    await serve('subscriber', 0);
    const t0 = await runTool('scriptor', ['-p', 'T=0', '-r', READER_0], pcscd.env, {
      input: `${SELECT_SUBSCRIBER}\n`,
    });
    expect(t0.stdout + t0.stderr).toContain('Card protocol mismatch');
    const r = await runTool('scriptor', ['-r', READER_0], pcscd.env, {
      input: `${SELECT_SUBSCRIBER}\n${READ_PURSE_LE00}\n`,
    });
    expect(r.stdout).toContain('Using T=1 protocol');
    const a = answers(r.stdout);
    expect(a).toHaveLength(2);
    expect(a[0]).toMatch(/^6F 2F 84 08 F0 4D 50 55 52 53 45 01 A5 23 .* 90 00$/);
    expect(a[0]!.split(' ')).toHaveLength(FCI_LENGTH + 2);
    expect(a[1]).toBe(`${PURSE_01_NEW} 90 00`);
  });

  it('T=0 subscriber: pcscd picks T=0; SELECT gives 61 31 then the FCI by GET RESPONSE; READ PURSE P3=00 gives 6C 11', async () => {
    await serve('subscriber-t0', 1);
    const r = await runTool('scriptor', ['-r', READER_1], pcscd.env, {
      input: [
        SELECT_SUBSCRIBER,
        `00 C0 00 00 ${FCI_LENGTH.toString(16).toUpperCase()}`,
        READ_PURSE_LE00,
        '80 5C 00 01 11',
      ].join('\n'),
    });
    expect(r.stdout).toContain('Using T=0 protocol');
    const a = answers(r.stdout);
    expect(a).toHaveLength(4);
    expect(a[0]).toBe('61 31');
    expect(a[1]).toMatch(/^6F 2F 84 08 F0 4D 50 55 52 53 45 01 A5 23 .* 90 00$/);
    expect(a[2]).toBe('6C 11');
    expect(a[3]).toBe(`${PURSE_01_NEW} 90 00`);
  });
});
