/**
 * `meterpurse card personalise --reader` and `card status --reader` through real PC/SC (issue 12:
 * SAMs for meters "issued the same way", "the same on a card served through `card serve` + vpcd
 * and driven through a real PC/SC reader"): a blank SAM card file served by `meterpurse card
 * serve --vpcd` into a private pcscd, personalised by `meterpurse card personalise --reader` in
 * its own process; the served file then shows the personalised SAM, and it is blocked and
 * unblocked through the reader with the ICSN and tkv the bureau kept.
 * Needs root (pcscd under `unshare -m`, test/pcsc/harness.ts); skipped with the reason otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualReader } from '../../reader/index.js';
import { readChip } from '../../terminal/index.js';
import { openCardFile } from '../../cli/cardfile/index.js';
import { makeBureau } from '../cli/issueFixture.js';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import {
  READER_0,
  REPO,
  pcscMissing,
  runTool,
  startCardServe,
  startPcscd,
  type PrivatePcscd,
} from './harness.js';

const missing = pcscMissing();
if (missing) console.warn(`card personalise --reader over PC/SC skipped: ${missing}`);

const PIN = '246810';
const cliEntry = join(REPO, 'test', 'pcsc', 'cli-entry.ts');

/** A sealed MKC (utility 1, KH[1][0..1], MK_tr[1]) as a card file, and MK_tr as a transport master file. */
const bureau = (dir: string) =>
  makeBureau(dir, 'perso-pcsc', { utilities: [1], khVersions: 2, pin: PIN, serial: '4D4B430000000002' });

const quiet: Io = { out: () => undefined, err: () => undefined };

describe.skipIf(missing !== undefined)('card personalise --reader through pcscd + vpcd', () => {
  let pcscd: PrivatePcscd;
  let dir: string;
  beforeAll(async () => {
    pcscd = await startPcscd({ nodelay: true });
    dir = mkdtempSync(join(tmpdir(), 'perso-pcsc-'));
  }, 30_000);
  afterAll(async () => {
    await pcscd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('personalises a blank SAM served by card serve; the served file is then that SAM; block and unblock through the reader', async () => {
    const b = await bureau(dir);
    const samFile = join(dir, 'sam-blank.card');
    const made = await main(
      [
        'card',
        'blank',
        '--kind',
        'sam',
        '--icsn',
        '4943534E000000AA',
        '--transport-key-file',
        b.transportPath,
        '--out',
        samFile,
        '--key-file',
        b.keyFile,
      ],
      quiet,
    );
    expect(made).toBe(0);
    const env = { ...pcscd.env, MP_MKC_PIN: PIN, MP_CARD_KEY_FILE: b.keyFile };
    const cli = (args: string[]) =>
      runTool(process.execPath, ['--import', 'tsx', cliEntry, ...args, '--key-file', b.keyFile], env, {
        timeoutMs: 60_000,
      });

    const served = await startCardServe(samFile, pcscd.port, env);
    let r;
    try {
      r = await cli([
        'card',
        'personalise',
        '--mkc',
        b.mkcPath,
        '--reader',
        READER_0,
        '--as',
        'sam',
        '--meter-id',
        '000123',
        '--terminal-id',
        '00000123',
        '--purse',
        '1',
        '--pairing',
        '7',
        '--card-timeout',
        '20',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /^personalised the card in reader 'Virtual PCD 00 00' as a sam: ICSN 4943534E000000AA \(transport key v1\), meter id 000123, terminal id 00000123, purse 1, pairing 7; life cycle 05 \(personalised\); master-key card 4D4B430000000002 issue counter 1\n$/,
      );
      // a second personalise of the same card through the reader: not blank any more
      const again = await cli([
        'card',
        'personalise',
        '--mkc',
        b.mkcPath,
        '--reader',
        READER_0,
        '--as',
        'sam',
        '--meter-id',
        '000123',
        '--terminal-id',
        '00000123',
        '--purse',
        '1',
        '--pairing',
        '7',
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(
        /the card in reader 'Virtual PCD 00 00' is not a blank chip: it is a personalised sam \(LCS 05, meter id 000123 pairing 7\)/,
      );
      // life cycle through the reader: ICSN and tkv from the bureau's records
      const status = (action: string, icsn = '4943534E000000AA') =>
        cli([
          'card',
          'status',
          '--mkc',
          b.mkcPath,
          '--reader',
          READER_0,
          '--icsn',
          icsn,
          '--tkv',
          '1',
          action,
        ]);
      const blocked = await status('--block');
      expect(blocked.code, blocked.stderr).toBe(0);
      expect(blocked.stdout).toMatch(/life cycle 05 → 04 \(blocked\)/);
      const wrongIcsn = await status('--unblock', '4943534E000000AB');
      expect(wrongIcsn.code).toBe(1);
      expect(wrongIcsn.stderr).toMatch(/EXTERNAL AUTHENTICATE/);
      const unblocked = await status('--unblock');
      expect(unblocked.code, unblocked.stderr).toBe(0);
      expect(unblocked.stdout).toMatch(/life cycle 04 → 05 \(personalised\)/);
    } finally {
      await served.stop('SIGTERM'); // saves the card file
    }

    // the served file is the personalised SAM
    const info = await readChip(
      await new VirtualReader(
        'sam',
        openCardFile(samFile, { keyFile: b.keyFile, rollback: false }).card,
      ).connect(),
    );
    expect([info.lcs, info.kind, Buffer.from(info.meterId!).toString('hex'), info.pairing]).toEqual([
      5,
      'sam',
      '000123',
      7,
    ]);
    let shown = '';
    const showIo: Io = { out: (t) => void (shown += t), err: () => undefined };
    expect(await main(['card', 'show', samFile, '--key-file', b.keyFile], showIo)).toBe(0);
    expect(shown).toMatch(/meter SAM {2}meter id 000123 {2}terminal id 00000123 {2}KT versions 0, 1/);
  }, 120_000);
});
