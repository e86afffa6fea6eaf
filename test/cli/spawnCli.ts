/**
 * The real command line in a child process (`node --import tsx test/pcsc/cli-entry.ts …`), for
 * tests that need what only a process has: its exit status, its own environment, stdin.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../pcsc/harness.js';

const ENTRY = join(REPO, 'test/pcsc/cli-entry.ts');

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `meterpurse <args>` with `env` (default: this process's) and `stdin` (default: none). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env, stdin = ''): Promise<CliRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { env, cwd: REPO });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
    p.stdin.end(stdin);
  });
}
