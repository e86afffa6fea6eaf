/**
 * The operator of a `card issue --reader` run over real PC/SC, for tests and the bench: blank
 * subscriber chips as card files, and a loop that serves the next one with `card serve --vpcd`
 * whenever the command asks for a card and stops it when the command says to take it out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  NodeCipherProvider,
  PersoCrypto,
  fromHex,
  makeBlankCard,
  KIND_SUBSCRIBER,
} from '../../card/index.js';
import { createCardFile } from '../../cli/cardfile/index.js';
import { startCardServe, type Child } from '../pcsc/harness.js';
import type { Bureau } from './issueFixture.js';

const cliMain = fileURLToPath(new URL('../host/serveMain.ts', import.meta.url));

/** Blank subscriber chips under the bureau's transport master, as sealed card files. */
export function blankCards(b: Bureau, dir: string, n: number, prefix = 'blank'): string[] {
  const cipher = new NodeCipherProvider();
  const t = JSON.parse(readFileSync(b.transportPath, 'utf8')) as { tkv: number; key: string };
  const files: string[] = [];
  for (let i = 1; i <= n; i++) {
    const icsn = fromHex(`49435300${prefix === 'blank' ? '00' : '01'}0000${i.toString(16).padStart(2, '0')}`);
    const chip = makeBlankCard('subscriber', {
      icsn,
      tkv: t.tkv,
      transportKey: new PersoCrypto(cipher).transportKey(fromHex(t.key), icsn, KIND_SUBSCRIBER),
    });
    const f = join(dir, `${prefix}-${i}.card`);
    createCardFile(f, chip.os, { keyFile: b.keyFile });
    files.push(f);
  }
  return files;
}

/**
 * Runs `card issue --reader` and plays the operator: each "insert blank card" line serves the next
 * file with `card serve`, each "take it out" stops it (which saves the card file). `inReaderMs`:
 * for each card done, from `card serve` ready to the command's "done: take it out" (the
 * personalisation through PC/SC, without the card swap).
 */
export async function operate(
  args: string[],
  env: NodeJS.ProcessEnv,
  cards: string[],
  port: number,
): Promise<{
  code: number | null;
  signal: string | null;
  out: string;
  served: number;
  inReaderMs: number[];
}> {
  const p: ChildProcess = spawn(process.execPath, ['--import', 'tsx', cliMain, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let served: Child | undefined;
  let next = 0;
  let readyAt = 0;
  const inReaderMs: number[] = [];
  let queue = Promise.resolve();
  const onLine = (line: string) => {
    if (/^insert blank card/.test(line))
      queue = queue.then(async () => {
        if (!served) {
          served = await startCardServe(cards[next++]!, port, env);
          readyAt = performance.now();
        }
      });
    else if (/take it out$/.test(line))
      queue = queue.then(async () => {
        if (/ done: take it out$/.test(line)) inReaderMs.push(performance.now() - readyAt);
        await served?.stop('SIGTERM');
        served = undefined;
      });
  };
  let partial = '';
  p.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    lines.forEach(onLine);
  });
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
    p.on('exit', (c, s) => r([c, s])),
  );
  await queue;
  await served?.stop('SIGTERM');
  return { code, signal, out, served: next, inReaderMs };
}
