/**
 * `meterpurse host serve` refusing to start (issue 15): a port in use, a database directory that
 * does not exist, a truncated field file, a bad --log-level — one line on stderr and an exit
 * status, never a stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { TEST_ADMIN_KEY } from '../host/apiAuth.js';

const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'host-serve-err-'));
  dirs.push(d);
  return d;
}

/** Runs `host serve args` in this process with an admin key file; resolves to status and output. */
async function serve(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const dir = tmp();
  const keyFile = join(dir, 'admin.key');
  writeFileSync(keyFile, TEST_ADMIN_KEY);
  let out = '';
  let err = '';
  const status = await main(['host', 'serve', '--admin-key-file', keyFile, ...args], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
  });
  return { status, out, err };
}

function expectOneLine(err: string, pattern: RegExp): void {
  expect(err.endsWith('\n')).toBe(true);
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).toMatch(pattern);
  expect(err).not.toMatch(/\n\s+at /); // no stack frames
}

describe('host serve refuses to start with one line and a status', () => {
  it('a port in use', async () => {
    const blocker = createServer();
    servers.push(blocker);
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    const r = await serve(['--db', join(tmp(), 'host.db'), '--port', String(port)]);
    expect(r.status).toBe(1);
    expectOneLine(r.err, new RegExp(`^meterpurse host serve: port ${port} on 127\\.0\\.0\\.1 is in use\\n$`));
    expect(r.out).not.toMatch(/listening on/);
  });

  it('a database directory that does not exist', async () => {
    const r = await serve(['--db', join(tmp(), 'no', 'such', 'dir', 'host.db'), '--port', '0']);
    expect(r.status).toBe(1);
    expectOneLine(r.err, /^meterpurse host serve: io: cannot open .*directory does not exist\n$/);
  });

  it('a truncated field file', async () => {
    const dir = tmp();
    const fieldFile = join(dir, 'field.json');
    writeFileSync(fieldFile, '{"AA0001":{"as":0,"ls":1,"mod');
    const r = await serve(['--db', join(dir, 'host.db'), '--field', fieldFile, '--port', '0']);
    expect(r.status).toBe(1);
    expectOneLine(r.err, /^meterpurse host serve: cannot start the field of meters: .*JSON/);
  });

  it('an unknown --log-level is a usage error', async () => {
    const r = await serve(['--db', join(tmp(), 'host.db'), '--log-level', 'loud']);
    expect(r.status).toBe(2);
    expectOneLine(
      r.err,
      /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got loud/,
    );
  });
});
