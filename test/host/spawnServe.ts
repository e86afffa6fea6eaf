/**
 * `meterpurse host serve` as a real child process (through test/host/serveMain.ts), resolved once
 * it prints its "listening on" line: for the tests that kill it, restart it, or reach it over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_ADMIN_KEY } from './apiAuth.js';

const serveMain = fileURLToPath(new URL('./serveMain.ts', import.meta.url));

export interface ServedHost {
  proc: ChildProcess;
  url: string;
  /** Everything the process printed so far. */
  out(): string;
}

/**
 * `track` gets the process as soon as it exists (so a test's cleanup kills it even when it never
 * came up). The process starts with MP_HOST_ADMIN_KEY = {@link TEST_ADMIN_KEY} unless `env` says
 * otherwise (`{ MP_HOST_ADMIN_KEY: undefined }` for a first start without one).
 * @throws Error (with what the process printed) when it exits or says nothing within `timeoutMs`.
 */
export async function spawnHostServe(
  args: string[],
  track: (proc: ChildProcess) => void,
  timeoutMs = 20_000,
  env: Record<string, string | undefined> = {},
): Promise<ServedHost> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, MP_HOST_ADMIN_KEY: TEST_ADMIN_KEY, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const proc = spawn(process.execPath, ['--import', 'tsx', serveMain, 'host', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv,
  });
  track(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listen line: ${out}`)), timeoutMs);
    const check = () => {
      const m = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      } else if (proc.exitCode !== null) reject(new Error(`exited: ${out}`));
      else setTimeout(check, 25);
    };
    check();
  });
  return { proc, url, out: () => out };
}
