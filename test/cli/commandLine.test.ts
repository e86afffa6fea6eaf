/**
 * The command line as a newcomer meets it (issue 16, "Command line"): every failure one line and a
 * documented exit status (no stack unless --verbose), card new refusing to overwrite, one
 * `card serve` per card file, --version, group help, every option in --help, --json outputs, the
 * scriptor-script refusal, and a progress line only on a terminal.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Io } from '../../cli/Command.js';
import { EXIT, main, registeredCommands } from '../../cli/main.js';
import { CardFileLock } from '../../cli/cardfile/index.js';
import { Progress } from '../../cli/Progress.js';
import { FakeVpcd } from '../reader/FakeVpcd.js';
import {
  pcscMissing,
  READER_0,
  READER_1,
  REPO,
  startCardServe,
  startPcscd,
  type Child,
} from '../pcsc/harness.js';
import { TEST_ADMIN_KEY } from '../host/apiAuth.js';

const dir = mkdtempSync(join(tmpdir(), 'mp-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY = join(dir, 'keys', 'card.key');
const ENTRY = join(REPO, 'test/pcsc/cli-entry.ts');
const REF_TRACE = join(REPO, 'apdu-traces/iso-fs-basic.trace');
const VECTORS = join(REPO, 'test/vectors/trace');
/** Keeps card keys and rollback state of these tests out of the user's ~/.config. */
const ENV = { ...process.env, MP_CONFIG_DIR: join(dir, 'config'), MP_CARD_KEY_FILE: KEY };

interface Ran {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], tty = false): Promise<Ran> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t), errIsTTY: tty };
  const code = await main(argv, io);
  return { code, out, err };
}

/** One line on stderr, no stack frame. */
function expectOneLine(err: string, pattern: RegExp): void {
  expect(err.endsWith('\n')).toBe(true);
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).toMatch(pattern);
  expect(err).not.toMatch(/\n\s+at /);
}

const STACK = /\n {4}at /;

function nodeCli(
  args: string[],
  env: NodeJS.ProcessEnv = ENV,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env, cwd: REPO });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const servers: Server[] = [];
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop('SIGKILL');
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

describe('every failure is one line and a documented status; --verbose shows the stack', () => {
  const cardNewBadDir = [
    'card',
    'new',
    '--profile',
    'subscriber',
    '--out',
    '/no/such/dir/x.card',
    '--key-file',
    KEY,
  ];

  it('card new --out in a missing folder: status 1, one line; --verbose adds the stack', async () => {
    const r = await run(cardNewBadDir);
    expect(r.code).toBe(EXIT.failed);
    expectOneLine(r.err, /^meterpurse card: cannot write card file '\/no\/such\/dir\/x\.card': ENOENT/);
    const v = await run([...cardNewBadDir, '--verbose']);
    expect(v.code).toBe(EXIT.failed);
    expect(v.err.split('\n')[0]).toMatch(
      /^meterpurse card: cannot write card file '\/no\/such\/dir\/x\.card': ENOENT/,
    );
    expect(v.err).toMatch(STACK);
  });

  it('host serve --db in a missing folder, and on a port in use: status 1, one line; --verbose adds the stack', async () => {
    const keyFile = join(dir, 'admin.key');
    writeFileSync(keyFile, TEST_ADMIN_KEY);
    const r = await run(['host', 'serve', '--admin-key-file', keyFile, '--db', '/no/such/dir/x.db']);
    expect(r.code).toBe(1);
    expectOneLine(r.err, /^meterpurse host serve: io: cannot open \/no\/such\/dir\/x\.db/);

    const blocker = createServer();
    servers.push(blocker);
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    const args = [
      'host',
      'serve',
      '--admin-key-file',
      keyFile,
      '--db',
      join(dir, 'h.db'),
      '--port',
      String(port),
    ];
    const p = await run(args);
    expect(p.code).toBe(1);
    expectOneLine(p.err, new RegExp(`^meterpurse host serve: port ${port} on 127\\.0\\.0\\.1 is in use\\n$`));
    const v = await run(['--verbose', ...args]);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/caused by: Error: listen EADDRINUSE/);
    expect(v.err).toMatch(STACK);
  });

  it('a usage error is one line (the usage is in --help), status 2', async () => {
    const r = await run(['card', 'new', '--bogus']);
    expect(r.code).toBe(EXIT.usage);
    expectOneLine(r.err, /^meterpurse card: Unknown option '--bogus'/);
    const t = await run(['trace', 'frobnicate']);
    expect(t.code).toBe(EXIT.usage);
    expectOneLine(
      t.err,
      /unknown sub-command 'frobnicate': want one of replay, record, import, export, check/,
    );
  });

  it('meter simulate --json into a closed pipe (EPIPE): no stack, status 141', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(
        process.execPath,
        ['--import', 'tsx', ENTRY, 'meter', 'simulate', '--days', '30', '--json'],
        {
          env: ENV,
          cwd: REPO,
        },
      );
      p.stdout.destroy(); // the reader of the pipe is gone before the first write, as `| head` after its lines
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.pipeClosed);
  });
});

describe('card new refuses to overwrite a card file without --force', () => {
  it('second card new on one file: status 2, one line, file unchanged; --force replaces it', async () => {
    const file = join(dir, 'keep.card');
    const args = [
      'card',
      'new',
      '--profile',
      'subscriber',
      '--out',
      file,
      '--key-file',
      KEY,
      '--balance',
      '5000',
    ];
    expect((await run(args)).code).toBe(0);
    const before = readFileSync(file);
    const again = await run(['card', 'new', '--profile', 'subscriber', '--out', file, '--key-file', KEY]);
    expect(again.code).toBe(EXIT.usage);
    expectOneLine(again.err, /'.*keep\.card' exists \(a card file is a card\): give --force to overwrite it/);
    expect(readFileSync(file).equals(before)).toBe(true);
    const forced = await run([
      'card',
      'new',
      '--profile',
      'subscriber',
      '--out',
      file,
      '--key-file',
      KEY,
      '--force',
    ]);
    expect(forced.code).toBe(0);
    expect(readFileSync(file).equals(before)).toBe(false);
    const shown = await run(['card', 'show', file, '--key-file', KEY, '--json']);
    expect((JSON.parse(shown.out) as { purses: { balance: number }[] }).purses[0]!.balance).toBe(0);
  });
});

describe('card seal and card unseal refuse to overwrite a card file without --force', () => {
  it('unseal onto an existing file and seal onto an existing file: status 2, one line, file unchanged', async () => {
    const sealed = join(dir, 'sealed.card');
    const lab = join(dir, 'lab.card');
    const other = join(dir, 'other.card');
    expect((await run(['card', 'new', '--profile', 'svm', '--out', sealed, '--key-file', KEY])).code).toBe(0);
    expect(
      (await run(['card', 'new', '--profile', 'svm', '--out', other, '--key-file', KEY, '--max', '7777']))
        .code,
    ).toBe(0);
    expect((await run(['card', 'unseal', sealed, '--out', lab, '--key-file', KEY])).code).toBe(0);
    const labBefore = readFileSync(lab);
    const u = await run(['card', 'unseal', other, '--out', lab, '--key-file', KEY]);
    expect(u.code).toBe(EXIT.usage);
    expectOneLine(u.err, /exists \(a card file is a card\): give --force/);
    expect(readFileSync(lab).equals(labBefore)).toBe(true);
    const otherBefore = readFileSync(other);
    const s2 = await run(['card', 'seal', lab, '--out', other, '--key-file', KEY]);
    expect(s2.code).toBe(EXIT.usage);
    expect(readFileSync(other).equals(otherBefore)).toBe(true);
    expect((await run(['card', 'unseal', other, '--out', lab, '--key-file', KEY, '--force'])).code).toBe(0);
    expect(readFileSync(lab).equals(labBefore)).toBe(false);
  });
});

describe('one card serve per card file', () => {
  it('a second card serve is refused while the first runs; the lock goes when it exits, or is stale after kill -9', async () => {
    const file = join(dir, 'served.card');
    expect(
      (await run(['card', 'new', '--profile', 'subscriber', '--out', file, '--key-file', KEY])).code,
    ).toBe(0);
    const vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    try {
      const first = await startCardServe(file, port, ENV);
      children.push(first);
      const second = await run(['card', 'serve', file, '--key-file', KEY, '--vpcd', `127.0.0.1:${port}`]);
      expect(second.code).toBe(EXIT.failed);
      expectOneLine(
        second.err,
        new RegExp(
          `card file '.*served\\.card' is in use by process ${first.process.pid} \\(lock .*served\\.card\\.lock\\)`,
        ),
      );
      // A clean exit (SIGTERM) gives the lock back.
      await first.stop('SIGTERM');
      expect(existsSync(CardFileLock.pathOf(file))).toBe(false);

      // kill -9 leaves the lock file with a dead pid: the next serve takes it over.
      const killed = await startCardServe(file, port, ENV);
      children.push(killed);
      await killed.stop('SIGKILL');
      expect(readFileSync(CardFileLock.pathOf(file), 'utf8').trim()).toBe(String(killed.process.pid));
      const third = await startCardServe(file, port, ENV);
      children.push(third);
      expect(third.output()).toMatch(/serving .*served\.card/);
      expect(readFileSync(CardFileLock.pathOf(file), 'utf8').trim()).toBe(String(third.process.pid));
    } finally {
      for (const c of children.splice(0)) await c.stop('SIGKILL');
      await vpcd.close();
    }
  }, 60_000);

  it('the lock in process: refused while held by a live pid, taken over from a dead one, released', () => {
    const file = join(dir, 'lock.card');
    writeFileSync(file, 'x');
    const lock = CardFileLock.acquire(file);
    // Held by this (live) process: another pid asking is refused.
    expect(() => CardFileLock.acquire(file, process.pid + 1_000_000)).toThrow(/in use by process/);
    lock.release();
    expect(existsSync(CardFileLock.pathOf(file))).toBe(false);
    // A pid that cannot run (beyond pid_max) left a lock: stale, taken over.
    writeFileSync(CardFileLock.pathOf(file), '99999999\n');
    const again = CardFileLock.acquire(file);
    expect(readFileSync(CardFileLock.pathOf(file), 'utf8').trim()).toBe(String(process.pid));
    again.release();
  });
});

describe('--version, group help and each command’s --help', () => {
  it('--version prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${pkg.version}\n`);
  });

  it.each(['card', 'host', 'trace', 'meter', 'keys', 'host keys'])(
    '`%s --help` lists the commands of the group',
    async (words) => {
      const group = words.split(' ');
      const r = await run([...group, '--help']);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      const under = registeredCommands().filter((c) => group.every((w, i) => c.path[i] === w));
      expect(under.length).toBeGreaterThan(0);
      for (const c of under) expect(r.out).toContain(`${c.path.join(' ')}  `);
      // Without --help: the same list, status 2 (a command is missing).
      const bare = await run(group);
      expect(bare.code).toBe(EXIT.usage);
      expect(bare.out).toBe(r.out);
    },
  );

  // Every option any command mentions: the documented ones and every `--word` in the sources.
  const sources = readdirSync(join(REPO, 'cli/commands'))
    .map((f) => readFileSync(join(REPO, 'cli/commands', f), 'utf8'))
    .join('\n');
  const candidates = new Set<string>([
    ...[...sources.matchAll(/--([a-z][a-z0-9-]*[a-z0-9])/g)].map((m) => m[1]!),
    ...registeredCommands().flatMap((c) => Object.keys(c.options ?? {})),
  ]);
  for (const g of ['help', 'verbose', 'version']) candidates.delete(g);

  it.each(registeredCommands().map((c) => [c.path.join(' '), c] as const))(
    '%s --help describes every option its parser accepts',
    async (_name, c) => {
      const h = await run([...c.path, '--help']);
      expect(h.code).toBe(0);
      expect(h.out).toContain(`usage: meterpurse ${c.usage.split('\n')[0]}`);
      expect(h.out).toContain('Examples:');
      const documented = Object.entries(c.options ?? {});
      for (const [name, o] of documented) {
        expect(h.out).toMatch(new RegExp(`\\n  --${name}\\b`));
        expect(h.out).toContain(o.help);
        if (o.byDefault !== undefined && o.byDefault !== 'required')
          expect(h.out).toContain(`default: ${o.byDefault}`);
      }
      // The parser refuses every option the help does not describe.
      for (const cand of candidates) {
        if (documented.some(([n]) => n === cand)) continue;
        const r = await run([...c.path, `--${cand}`, 'x']);
        expect({ option: cand, code: r.code }).toEqual({ option: cand, code: EXIT.usage });
        expect(r.err).toMatch(new RegExp(`unknown (option|argument) '?--${cand}('|;|\\s|$)`, 'i'));
      }
    },
  );
});

describe('--json where the output is data', () => {
  it('keys derive --json: the same key as the plain output', async () => {
    const args = ['keys', 'derive', '--master', '0123456789ABCDEFFEDCBA9876543210', '--id', '000123'];
    const plain = await run(args);
    const json = await run([...args, '--json']);
    expect(json.code).toBe(0);
    const j = JSON.parse(json.out) as { key: string; alg: string; id: string };
    expect(j.key).toBe(plain.out.trim());
    expect(j).toMatchObject({ alg: '3des', id: '000123' });
  });

  it('card new --json: the file, its seal and the card', async () => {
    const file = join(dir, 'json.card');
    const r = await run(['card', 'new', '--profile', 'svm', '--out', file, '--key-file', KEY, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      file: string;
      profile: string;
      seal: { sealed: boolean };
      kind: string;
      max: number;
    };
    expect(j).toMatchObject({ file, profile: 'svm', kind: 'svm', max: 1_000_000 });
    expect(j.seal.sealed).toBe(true);
  });

  it('readers --json without a PC/SC service: one line, status 1', async () => {
    const r = await nodeCli(['readers', '--json', '--timeout', '500'], {
      ...ENV,
      PCSCLITE_CSOCK_NAME: join(dir, 'no-pcscd.comm'),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expectOneLine(r.stderr, /^meterpurse readers: /);
  });

  // Needs pcscd and vpcd (as test/pcsc does); MP_REQUIRE_PCSC=1 (CI) makes their absence a failure.
  it('readers --json through a private pcscd with vpcd: its two readers, empty', async () => {
    const missing = pcscMissing();
    if (missing && process.env.MP_REQUIRE_PCSC !== '1') {
      console.warn(`readers --json through pcscd not run: ${missing}`);
      return;
    }
    const pcscd = await startPcscd({ nodelay: false });
    try {
      const r = await nodeCli(['readers', '--json'], { ...ENV, ...pcscd.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const list = JSON.parse(r.stdout) as { reader: string; card: boolean; atr: string | null }[];
      expect(list).toEqual([
        { reader: READER_0, card: false, atr: null },
        { reader: READER_1, card: false, atr: null },
      ]);
    } finally {
      await pcscd.stop();
    }
  }, 30_000);
});

describe('trace import refuses a scriptor script given as scriptor output', () => {
  it('status 2, one line, no trace written', async () => {
    const out = join(dir, 'empty.trace');
    const r = await run([
      'trace',
      'import',
      '--scriptor-output',
      join(VECTORS, 'scriptor-iso-fs-basic.script'),
      '--out',
      out,
    ]);
    expect(r.code).toBe(EXIT.usage);
    expectOneLine(r.err, /no exchange found: not scriptor's output \(a scriptor script\?/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('a progress line only when stderr is a terminal', () => {
  it('meter simulate: drawn and erased on a TTY, nothing otherwise; stdout the same', async () => {
    const tty = await run(['meter', 'simulate', '--days', '3', '--json'], true);
    const pipe = await run(['meter', 'simulate', '--days', '3', '--json'], false);
    expect(tty.code).toBe(0);
    expect(tty.err).toMatch(/^\rsimulating 3 day\(s\) {3}0 % \(0 of 3 days\)/);
    expect(tty.err.endsWith('\r\x1b[K')).toBe(true);
    expect(pipe.err).toBe('');
    expect(tty.out).toBe(pipe.out);
  });

  it('trace replay: drawn on a TTY, nothing otherwise', async () => {
    const tty = await run(['trace', 'replay', REF_TRACE, '--profile', 'iso-fs'], true);
    const pipe = await run(['trace', 'replay', REF_TRACE, '--profile', 'iso-fs'], false);
    expect(tty.code).toBe(0);
    expect(tty.err).toMatch(/\rreplaying .*iso-fs-basic\.trace {3}0 % \(0 of 19 exchanges\)/);
    expect(pipe.err).toBe('');
    expect(tty.out).toBe(pipe.out);
  });

  it('redraws at most every interval, and always the last step', () => {
    let t = 0;
    const lines: string[] = [];
    const p = new Progress({ out: () => {}, err: (s) => lines.push(s), errIsTTY: true }, 'work', 'steps', {
      intervalMs: 100,
      now: () => t,
    });
    p.update(0, 10);
    t = 50;
    p.update(5, 10); // too soon
    t = 150;
    p.update(6, 10);
    t = 160;
    p.update(10, 10); // the last step, drawn although soon
    p.done();
    expect(lines).toEqual([
      '\rwork   0 % (0 of 10 steps)\x1b[K',
      '\rwork  60 % (6 of 10 steps)\x1b[K',
      '\rwork 100 % (10 of 10 steps)\x1b[K',
      '\r\x1b[K',
    ]);
  });
});
