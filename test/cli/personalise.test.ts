/**
 * `meterpurse card personalise` and `card status` in process (issue 12: "Commissioning cards and
 * SAM/SVM modules for meters are issued the same way"): blank card files made by `card blank`
 * under the transport master of a seeded ceremony, personalised through its master-key card, and
 * then proven to WORK — a card-to-SVM transfer through the issued subscriber card, SAM and SVM,
 * and the issued commissioning card read by that meter's SAM. Then the refusals: a wrong MKC PIN
 * (its tries spent and saved), a chip that is not blank, --as of another kind, a serial issued
 * already (the file left blank), missing or misplaced options; and the life cycle.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { openCardFile } from '../../cli/cardfile/index.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import { MasterKeyCard, MeterModules, readChip, runCardSession } from '../../terminal/index.js';
import { bcdDateTime, toHex } from '../../card/index.js';
import { CommissioningData, readCommissioningCard } from '../../meter/index.js';
import { MKC_PIN, makeBureau as makeBureauOf, type Bureau } from './issueFixture.js';

const NOW = bcdDateTime(Date.UTC(2025, 0, 15, 12, 0, 0));
const METER = ['--meter-id', '000123', '--terminal-id', '00000123', '--purse', '1', '--pairing', '1'];

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'perso-'));
  dirs.push(d);
  return d;
}

beforeAll(() => {
  process.env['MP_MKC_PIN'] = MKC_PIN;
});
afterAll(() => {
  delete process.env['MP_MKC_PIN'];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function capture(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

async function cli(b: Bureau, args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = capture();
  const status = await main([...args, '--key-file', b.keyFile], io);
  return { status, out: io.stdout(), err: io.stderr() };
}

/**
 * The bureau of test/cli/issueFixture.ts with utilities 1..3 and two host master versions
 * KH[u][0..1] per utility: a SAM holds at least two KT versions (card/applets/sam), so an MKC with
 * one KH cannot make SAMs (`card personalise` refuses that up front).
 */
const makeBureau = (dir: string, seed: string, khVersions = 2): Promise<Bureau> =>
  makeBureauOf(dir, seed, { utilities: [1, 2, 3], khVersions });

let icsnCounter = 0;
/** A blank chip of `kind` made by `card blank` under the bureau's transport master. */
async function blank(b: Bureau, kind: string): Promise<string> {
  const icsn = `4943534E0000${(++icsnCounter).toString(16).toUpperCase().padStart(4, '0')}`;
  const out = join(b.dir, `${kind}-${icsn}.card`);
  const r = await cli(b, [
    'card',
    'blank',
    '--kind',
    kind,
    '--icsn',
    icsn,
    '--transport-key-file',
    b.transportPath,
    '--out',
    out,
  ]);
  expect(r.status, r.err).toBe(0);
  return out;
}

async function perso(b: Bureau, chip: string, as: string, extra: string[]) {
  return cli(b, ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', as, ...extra]);
}

/** The card of a card file in a virtual reader (not saved back). */
async function channelOf(b: Bureau, file: string): Promise<CardChannel> {
  return new VirtualReader(file, openCardFile(file, { keyFile: b.keyFile, rollback: false }).card).connect();
}

async function mkcCounter(b: Bureau): Promise<number> {
  const opened = openCardFile(b.mkcPath, { keyFile: b.keyFile, rollback: false });
  const mkc = await MasterKeyCard.open(await new VirtualReader('x', opened.card).connect());
  return (await mkc.status()).issueCounter;
}

describe('card personalise: the issued cards work', () => {
  let b: Bureau;
  beforeAll(async () => {
    b = await makeBureau(tmp(), 'perso-cli');
  });

  it('a SAM, an SVM and a subscriber card take a card-to-SVM transfer; a commissioning card is read by that SAM', async () => {
    const samFile = await blank(b, 'sam');
    const svmFile = await blank(b, 'svm');
    const cardFile = await blank(b, 'subscriber');
    const commFile = await blank(b, 'commissioning');
    expect(await mkcCounter(b)).toBe(0);

    const sam = await perso(b, samFile, 'sam', METER);
    expect(sam.status, sam.err).toBe(0);
    expect(sam.out).toMatch(
      /^personalised .*sam-4943534E00000001\.card as a sam: ICSN 4943534E00000001 \(transport key v1\), meter id 000123, terminal id 00000123, purse 1, pairing 1; life cycle 05 \(personalised\); master-key card 4D4B430000000001 issue counter 1\n$/,
    );
    const svm = await perso(b, svmFile, 'svm', [...METER, '--max', '1000000', '--balance', '250']);
    expect(svm.status, svm.err).toBe(0);
    expect(svm.out).toMatch(
      /as a svm: ICSN 4943534E00000002 .* max 1000000, balance 250; .* issue counter 2/,
    );
    const card = await perso(b, cardFile, 'subscriber', [
      '--csn',
      '4D50000000000001',
      '--purses',
      '1:5000;2:0',
      '--json',
    ]);
    expect(card.status, card.err).toBe(0);
    expect(JSON.parse(card.out)).toMatchObject({
      kind: 'subscriber',
      icsn: '4943534E00000003',
      tkv: 1,
      csn: '4D50000000000001',
      purses: [
        { id: 1, balance: 5000 },
        { id: 2, balance: 0 },
      ],
      pin: false,
      mkc: { serial: '4D4B430000000001', issueCounter: 3 },
      profile: 'blank-subscriber',
    });
    const comm = await perso(b, commFile, 'commissioning', [
      '--csn',
      'C0DE000000000001',
      '--purse',
      '1',
      '--uses',
      '2',
      '--meter-id',
      '000123',
      '--reference',
      '77',
      '--unit-charge',
      '25',
      '--emergency-credit',
      '500',
      '--initial-credit',
      '100',
    ]);
    expect(comm.status, comm.err).toBe(0);
    expect(comm.out).toMatch(
      /as a commissioning: .* CSN C0DE000000000001, purse 1, 2 use\(s\), payload of \d+ bytes/,
    );
    expect(await mkcCounter(b)).toBe(4);

    // card show shows the personalised cards
    const shown = await cli(b, ['card', 'show', cardFile, '--json']);
    expect(shown.status, shown.err).toBe(0);
    const view = JSON.parse(shown.out) as {
      kind: string;
      csn: string;
      purses: Array<{ id: number; balance: number }>;
    };
    expect([view.kind, view.csn, view.purses.map((p) => [p.id, p.balance])]).toEqual([
      'subscriber',
      '4D50000000000001',
      [
        [1, 5000],
        [2, 0],
      ],
    ]);
    const samShown = await cli(b, ['card', 'show', samFile]);
    expect(samShown.out).toMatch(/meter SAM {2}meter id 000123 {2}terminal id 00000123/);
    const commShown = await cli(b, ['card', 'show', commFile]);
    expect(commShown.out).toMatch(/commissioning card {2}CSN C0DE000000000001 {2}purse 1 {2}uses left 2/);

    // a real card-to-SVM transfer through the three issued cards
    const m = await MeterModules.open(await channelOf(b, samFile), await channelOf(b, svmFile));
    const cardCh = await channelOf(b, cardFile);
    const o = await runCardSession(m, cardCh, { purse: 1, dateTime: NOW });
    expect(o.amount).toBe(5000);
    // and the commissioning card authenticates to the issued SAM, its payload vouched for by it
    const read = await readCommissioningCard(m, await channelOf(b, commFile), {
      purse: 1,
      commissioned: false,
    });
    expect(toHex(read.csn)).toBe('C0DE000000000001');
    expect(read.data).toBeInstanceOf(CommissioningData);
    const data = read.data as CommissioningData;
    expect([toHex(data.meterId), data.reference, data.emergencyCredit, data.initialCredit]).toEqual([
      '000123',
      77,
      500,
      100,
    ]);
  });

  it('a subscriber card with a PIN (from --card-pin-file), expiry and a raw commissioning payload', async () => {
    const cardFile = await blank(b, 'subscriber');
    const pinFile = join(b.dir, 'card-pin.txt');
    writeFileSync(pinFile, '1357\n', { mode: 0o600 });
    const r = await perso(b, cardFile, 'subscriber', [
      '--csn',
      '4D50000000000010',
      '--card-pin-file',
      pinFile,
      '--expiry',
      '291130',
      '--issuer-id',
      '4D505553',
    ]);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toMatch(/CSN 4D50000000000010, purses 1:0, with a PIN/);
    const view = JSON.parse((await cli(b, ['card', 'show', cardFile, '--json'])).out) as Record<
      string,
      unknown
    >;
    expect(view).toMatchObject({ csn: '4D50000000000010', issuerId: '4D505553', expiry: '2029-11-30' });
    expect(view['pin']).toMatchObject({ required: true });

    const commFile = await blank(b, 'commissioning');
    const raw = await perso(b, commFile, 'commissioning', [
      '--csn',
      'C0DE000000000002',
      '--purse',
      '2',
      '--uses',
      '1',
      '--payload',
      'DC0001230000002A',
    ]);
    expect(raw.status, raw.err).toBe(0);
    expect(raw.out).toMatch(/payload of 8 bytes/);
  });

  it('card status blocks, unblocks and terminates a personalised card file', async () => {
    const cardFile = await blank(b, 'subscriber');
    expect((await perso(b, cardFile, 'subscriber', ['--csn', '4D50000000000020'])).status).toBe(0);
    const st = (action: string) => cli(b, ['card', 'status', '--mkc', b.mkcPath, '--chip', cardFile, action]);
    const lcs = async () => (await readChip(await channelOf(b, cardFile))).lcs;
    const blocked = await st('--block');
    expect(blocked.status, blocked.err).toBe(0);
    expect(blocked.out).toMatch(
      /^blocked .*: subscriber ICSN 4943534E[0-9A-F]{8}, life cycle 05 → 04 \(blocked\)\n$/,
    );
    expect(await lcs()).toBe(4);
    const again = await st('--block');
    expect(again.status).toBe(1);
    expect(again.err).toMatch(
      /refuses to block: a blocked subscriber \(LCS 04, CSN 4D50000000000020\) cannot go there/,
    );
    expect((await st('--unblock')).status).toBe(0);
    expect(await lcs()).toBe(5);
    expect((await st('--terminate')).status).toBe(0);
    expect(await lcs()).toBe(0x0c);
    const after = await st('--unblock');
    expect(after.status).toBe(1);
    expect(after.err).toMatch(/is terminated/);
    // a personalise of a terminated card: not blank
    const p = await perso(b, cardFile, 'subscriber', ['--csn', '4D50000000000021']);
    expect(p.status).toBe(1);
    expect(p.err).toMatch(/is not a blank chip: it is a terminated subscriber \(LCS 0C\)/);
  });
});

describe('card personalise: refusals', () => {
  it('a wrong MKC PIN: refused, its try spent and saved in the MKC file; the chip stays blank', async () => {
    const b = await makeBureau(tmp(), 'perso-pin');
    const chip = await blank(b, 'sam');
    const before = readFileSync(chip);
    const wrong = join(b.dir, 'wrong-pin');
    writeFileSync(wrong, '999999\n');
    const r1 = await perso(b, chip, 'sam', [...METER, '--pin-file', wrong]);
    expect(r1.status).toBe(1);
    expect(r1.err).toMatch(
      /^meterpurse card personalise: master-key card '.*mkc\.card': MKC VERIFY: wrong PIN: 2 tries left \(63C2[^\n]*\)\n$/,
    );
    const r2 = await perso(b, chip, 'sam', [...METER, '--pin-file', wrong]);
    expect(r2.err).toMatch(/wrong PIN: 1 try left/);
    expect(readFileSync(chip).equals(before)).toBe(true);
    expect((await readChip(await channelOf(b, chip))).lcs).toBe(3);
    // the right PIN still works (and resets the tries)
    const ok = await perso(b, chip, 'sam', METER);
    expect(ok.status, ok.err).toBe(0);
  });

  it('a chip that is not blank, a blank chip of another kind, a serial issued already', async () => {
    const b = await makeBureau(tmp(), 'perso-refusals');
    const sam = await blank(b, 'sam');
    expect((await perso(b, sam, 'sam', METER)).status).toBe(0);
    const counter = await mkcCounter(b);
    const twice = await perso(b, sam, 'sam', METER);
    expect(twice.status).toBe(1);
    expect(twice.err).toMatch(
      /is not a blank chip: it is a personalised sam \(LCS 05, meter id 000123 pairing 1\); nothing was changed/,
    );
    const svmBlank = await blank(b, 'svm');
    const wrongKind = await perso(b, svmBlank, 'sam', METER);
    expect(wrongKind.status).toBe(1);
    expect(wrongKind.err).toMatch(
      /is a blank svm chip, not a blank sam chip \(--as sam\); nothing was changed/,
    );
    expect(await mkcCounter(b)).toBe(counter);

    const a = await blank(b, 'subscriber');
    const c = await blank(b, 'subscriber');
    expect((await perso(b, a, 'subscriber', ['--csn', '4D50000000000005'])).status).toBe(0);
    const before = readFileSync(c);
    const issued = await perso(b, c, 'subscriber', ['--csn', '4D50000000000003']);
    expect(issued.status).toBe(1);
    expect(issued.err).toMatch(
      /card serial 4D50000000000003 is issued already: the master-key card issued it, or a higher one, to another chip; allocate a serial above the highest issued/,
    );
    // the failed session left the card file blank, byte for byte
    expect(readFileSync(c).equals(before)).toBe(true);
    expect((await cli(b, ['card', 'show', c])).out).toMatch(
      /blank subscriber chip \(LCS 03, not personalised\)/,
    );
    // the same serial on the first chip's neighbour, above the highest: issued
    expect((await perso(b, c, 'subscriber', ['--csn', '4D50000000000006'])).status).toBe(0);
  });

  it('missing or misplaced options: exit 2, nothing touched', async () => {
    const b = await makeBureau(tmp(), 'perso-usage');
    const chip = await blank(b, 'sam');
    const before = readFileSync(chip);
    const mkcBefore = readFileSync(b.mkcPath);
    const cases: Array<[string[], RegExp]> = [
      [['card', 'personalise', '--chip', chip, '--as', 'sam', ...METER], /--mkc <mkc card file> is required/],
      [['card', 'personalise', '--mkc', b.mkcPath, '--as', 'sam', ...METER], /exactly one of --chip/],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--reader', 'R', '--as', 'sam', ...METER],
        /exactly one of --chip/,
      ],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, ...METER],
        /--as subscriber\|sam\|svm\|commissioning is required/,
      ],
      [['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', 'meter'], /--as must be one of/],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', 'sam', '--meter-id', '000123'],
        /--terminal-id <hex4> is required/,
      ],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', 'sam', ...METER, '--uses', '3'],
        /--uses is not an option of --as sam/,
      ],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', 'subscriber'],
        /--csn <hex8> is required/,
      ],
      [
        ['card', 'personalise', '--mkc', b.mkcPath, '--chip', chip, '--as', 'subscriber', '--csn', '4D50'],
        /--csn must be 8 bytes hex/,
      ],
      [
        [
          'card',
          'personalise',
          '--mkc',
          b.mkcPath,
          '--chip',
          chip,
          '--as',
          'subscriber',
          '--csn',
          '4D50000000000001',
          '--purses',
          '1:x',
        ],
        /--purses: '1:x' is not id:balance/,
      ],
      [
        [
          'card',
          'personalise',
          '--mkc',
          b.mkcPath,
          '--chip',
          chip,
          '--as',
          'commissioning',
          '--csn',
          'C0DE000000000001',
          '--purse',
          '1',
          '--uses',
          '1',
        ],
        /needs --payload <hex>, or --meter-id, --reference and --unit-charge/,
      ],
      [
        [
          'card',
          'personalise',
          '--mkc',
          b.mkcPath,
          '--chip',
          chip,
          '--as',
          'commissioning',
          '--csn',
          'C0DE000000000001',
          '--purse',
          '1',
          '--uses',
          '1',
          '--meter-id',
          '000123',
          '--reference',
          '1',
          '--unit-charge',
          '5',
          '--initial-credit',
          '20000',
        ],
        /commissioning payload: initial credit 20000 is above the ceiling/,
      ],
      [
        [
          'card',
          'personalise',
          '--mkc',
          b.mkcPath,
          '--chip',
          chip,
          '--as',
          'sam',
          ...METER,
          '--pin',
          '246810',
        ],
        /Unknown option '--pin'/,
      ],
      [
        ['card', 'status', '--mkc', b.mkcPath, '--chip', chip],
        /exactly one of --block, --unblock and --terminate/,
      ],
      [['card', 'status', '--mkc', b.mkcPath, '--reader', 'R', '--block'], /--icsn <hex8> is required/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(b, args);
      expect([r.status, r.err], args.join(' ')).toEqual([2, expect.stringMatching(message)]);
    }
    // no PIN anywhere
    delete process.env['MP_MKC_PIN'];
    try {
      const r = await perso(b, chip, 'sam', METER);
      expect([r.status, r.err]).toEqual([
        2,
        expect.stringMatching(/the MKC's PIN is needed: --pin-file <file> or \$MP_MKC_PIN/),
      ]);
    } finally {
      process.env['MP_MKC_PIN'] = MKC_PIN;
    }
    expect(readFileSync(chip).equals(before)).toBe(true);
    expect(readFileSync(b.mkcPath).equals(mkcBefore)).toBe(true);
  });

  it('--help lists the options', async () => {
    const io = capture();
    expect(await main(['card', 'personalise', '--help'], io)).toBe(0);
    expect(io.stdout()).toMatch(/--card-pin-file <file>/);
    expect(io.stdout()).toMatch(/--unit-charge <n>/);
  });
});

describe('card personalise: a SAM needs two KH versions', () => {
  it('an MKC with one KH version per utility cannot make a SAM: refused before the chip is touched', async () => {
    const b = await makeBureau(tmp(), 'perso-one-kh', 1);
    const chip = await blank(b, 'sam');
    const before = readFileSync(chip);
    const r = await perso(b, chip, 'sam', METER);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(
      /holds 1 host master version\(s\) KH\[1\]\[n\] of utility 1; a SAM needs at least two/,
    );
    expect(readFileSync(chip).equals(before)).toBe(true);
  });
});
