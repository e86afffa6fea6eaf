/**
 * Test harness for real PC/SC: a private pcscd (its own socket directory, its own vpcd ports),
 * vsmartcard's vicc, and helpers to run the PC/SC tools nobody here wrote.
 *
 * Privacy: pcscd 1.9.9 always serves /run/pcscd/pcscd.comm, so it is started with `unshare -m`
 * and a private directory bind-mounted on /run/pcscd; clients find it through
 * PCSCLITE_CSOCK_NAME. Its reader configuration (`-c`) holds only vpcd on a free port pair, so
 * neither the system's pcscd nor another test's is disturbed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPcsclite } from '../../reader/internal/pcscAddon.js';

export const PCSCD = '/usr/sbin/pcscd';
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
export const VICC = '/usr/bin/vicc';
const VICC_MODULES = '/usr/lib/python3/site-packages/virtualsmartcard';
const CRYPTODOME = '/usr/lib/python3/dist-packages/Cryptodome';
export const READER_0 = 'Virtual PCD 00 00';
export const READER_1 = 'Virtual PCD 00 01';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, '..', '..');

/** True when CI asks for the real PC/SC tests: a missing prerequisite is then a failure. */
export const REQUIRE_PCSC = process.env.MP_REQUIRE_PCSC === '1';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why real PC/SC tests cannot run here, or undefined when they can. */
export function pcscMissing(tools: string[] = []): string | undefined {
  if (process.platform !== 'linux') return 'real PC/SC tests need Linux';
  if (process.getuid?.() !== 0) return 'real PC/SC tests start pcscd and need root';
  if (!existsSync(PCSCD)) return `pcscd is not installed (${PCSCD}): apt-get install pcscd`;
  if (!existsSync(VPCD_DRIVER))
    return `vpcd is not installed (${VPCD_DRIVER}): apt-get install vsmartcard-vpcd`;
  if (!onPath('unshare') || !onPath('mount')) return 'unshare/mount (util-linux) are missing';
  for (const t of tools) if (!onPath(t)) return `${t} is not installed`;
  try {
    loadPcsclite();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return undefined;
}

/** Builds the TCP_NODELAY shim (test/pcsc/nodelay.c) once per process. */
let shim: string | undefined;
export function buildNodelayShim(): string {
  if (shim) return shim;
  if (!onPath('cc')) throw new Error('cc is needed to build test/pcsc/nodelay.c (apt-get install gcc)');
  const out = join(mkdtempSync(join(tmpdir(), 'mp-nodelay-')), 'libnodelay.so');
  const r = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', out, join(here, 'nodelay.c'), '-ldl'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`building nodelay.c failed: ${r.stderr}`);
  shim = out;
  return out;
}

/** Ports listening on this machine (from /proc/net/tcp{,6}). */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && cols[1]) ports.add(parseInt(cols[1].split(':').pop()!, 16));
    }
  }
  return ports;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** A free pair (p, p+1) for vpcd's two slots. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + 2 * Math.floor(Math.random() * 20000);
    const used = listeningPorts();
    if (used.has(p) || used.has(p + 1)) continue;
    if ((await canBind(p)) && (await canBind(p + 1))) return p;
  }
  throw new Error('no free port pair for vpcd');
}

/** True while the process that started the pcscd of `dir` is alive. */
function ownerAlive(dir: string): boolean {
  try {
    process.kill(Number(readFileSync(join(dir, 'owner.pid'), 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills pcscd processes this harness left behind (their owner died or their directory is gone)
 * and removes private directories whose owner died.
 */
function killOrphans(): void {
  for (const d of readdirSync(tmpdir()).filter((n) => n.startsWith('mp-pcscd-'))) {
    const dir = join(tmpdir(), d);
    if (!ownerAlive(dir)) rmSync(dir, { recursive: true, force: true });
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmd.split('\0');
    if (!args[0]?.endsWith('pcscd')) continue;
    const conf = args[args.indexOf('-c') + 1];
    if (conf && /\/mp-pcscd-[^/]+\/conf$/.test(conf) && !ownerAlive(join(conf, '..'))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
      rmSync(join(conf, '..'), { recursive: true, force: true });
    }
  }
}

export interface PrivatePcscd {
  readonly dir: string;
  /** The socket clients use: put it in PCSCLITE_CSOCK_NAME. */
  readonly socket: string;
  /** vpcd's first slot; the second is port + 1. */
  readonly port: number;
  readonly nodelay: boolean;
  /** Environment for child processes (PC/SC tools, vicc): PCSCLITE_CSOCK_NAME set. */
  readonly env: NodeJS.ProcessEnv;
  readonly process: ChildProcess;
  /** pcscd's output so far (stdout + stderr). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a private `pcscd -f` with vpcd on a free port pair, optionally with the TCP_NODELAY
 * shim preloaded, and waits until it serves its socket and vpcd listens.
 * @throws Error with pcscd's output when it does not come up within 10 s.
 */
export async function startPcscd(
  options: { nodelay?: boolean; dir?: string; keepDir?: boolean } = {},
): Promise<PrivatePcscd> {
  killOrphans();
  const nodelay = options.nodelay ?? true;
  // Reusing the directory of a stopped instance keeps the socket path, which libpcsclite reads
  // only once per process.
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'mp-pcscd-'));
  // First thing: an ownerless directory is fair game for another run's orphan cleanup.
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const run = join(dir, 'run');
  const conf = join(dir, 'conf');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  mkdirSync(conf, { recursive: true });
  mkdirSync('/run/pcscd', { recursive: true });
  const port = await freePortPair();
  const hex = `0x${port.toString(16).toUpperCase()}`;
  writeFileSync(
    join(conf, 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:${hex}\nLIBPATH      ${VPCD_DRIVER}\nCHANNELID    ${hex}\n`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (nodelay) env.LD_PRELOAD = buildNodelayShim();
  const child = spawn(
    'unshare',
    ['-m', 'sh', '-c', 'mount --bind "$0" /run/pcscd && exec pcscd -f -c "$1"', run, conf],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const socket = join(run, 'pcscd.comm');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(existsSync(socket) && listeningPorts().has(port) && listeningPorts().has(port + 1))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`pcscd did not come up (exit ${child.exitCode}): ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    socket,
    port,
    nodelay,
    env: { ...process.env, PCSCLITE_CSOCK_NAME: socket },
    process: child,
    log: () => out,
    stop,
  };
}

/** A child process with its output collected and a stop() that waits for it. */
export interface Child {
  readonly process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Child {
  const p = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  p.on('error', (e) => (out += `spawn error: ${e.message}`));
  return {
    process: p,
    output: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Starts `meterpurse card serve <file> --vpcd 127.0.0.1:<port>` from source as a child process
 * and waits for its "serving" line.
 * @throws Error with the child's output when it does not connect within 20 s.
 */
export async function startCardServe(file: string, port: number, env: NodeJS.ProcessEnv): Promise<Child> {
  const child = startChild(
    process.execPath,
    ['--import', 'tsx', join(here, 'cli-entry.ts'), 'card', 'serve', file, '--vpcd', `127.0.0.1:${port}`],
    env,
    REPO,
  );
  const end = Date.now() + 20_000;
  while (!child.output().includes('serving ')) {
    if (child.process.exitCode !== null || Date.now() > end) {
      await child.stop();
      throw new Error(`meterpurse card serve did not come up: ${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** Environment for Debian's vicc: its modules, and `Crypto` pointing at pycryptodomex. */
let viccPath: string | undefined;
export function viccEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!viccPath) {
    const d = mkdtempSync(join(tmpdir(), 'mp-vicc-'));
    symlinkSync(CRYPTODOME, join(d, 'Crypto'));
    viccPath = d;
  }
  return { ...base, PYTHONPATH: [VICC_MODULES, viccPath, base.PYTHONPATH].filter(Boolean).join(':') };
}

/** Starts vsmartcard's own emulated ISO 7816 card on vpcd's slot at `port`. */
export function startVicc(port: number, env: NodeJS.ProcessEnv): Child {
  return startChild(VICC, ['-t', 'iso7816', '-H', '127.0.0.1', '-P', String(port)], viccEnv(env));
}

/** Runs a command to completion with a time limit; never throws for a non-zero exit. */
export function runTool(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    p.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + e.message });
    });
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(options.input ?? '');
  });
}

/** Waits until `check()` is true, polling every 20 ms. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
