/**
 * `meterpurse card new --profile subscriber|subscriber-t0|sam|svm --out <file> [--seed S] ...` and
 * `meterpurse card show <file> [--json]`: purse-system cards as files (the runtime's card-file
 * container), personalised with the documented seeded demo issuer — public test keys, never real
 * secrets. Importing this module registers the four profiles, so `meterpurse card serve <file>`
 * can serve these cards too.
 */
import type { Command, Io } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { createCardFile, openCardFile } from '../../card/CardFile.js';
import { buildCard, cardOrigin } from '../../card/os/CardProfiles.js';
import { fromHex, toHex } from '../../card/util/hex.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { PROFILE_NAMES, defaultPurses, deviceOf, type ProfileName } from '../../card/applets/profiles.js';
import { readDevice, type DeviceView } from '../../card/applets/inspect.js';
import { bcdDateTime } from '../../card/applets/bytes.js';
import { PURSE_NAMES } from '../../card/applets/constants.js';
import { loadCard } from '../../card/transfer/loadCard.js';
import { VirtualReader } from '../../reader/VirtualReader.js';

const USAGE_NEW =
  'card new --profile subscriber|subscriber-t0|sam|svm --out <file> [--seed <S>] [--csn <hex8>] [--balance <n>] [--pin <digits>] [--meter-id <hex3>] [--terminal-id <hex4>] [--max <n>]';
const USAGE_SHOW = 'card show <file> [--json]';

function hexArg(v: string | undefined, name: string, length: number, fallback: string): string {
  const s = v ?? fallback;
  let b: Uint8Array;
  try {
    b = fromHex(s);
  } catch {
    throw new UsageError(`${name} must be hex, got ${s}`);
  }
  if (b.length !== length) throw new UsageError(`${name} must be ${length} bytes, got ${b.length}`);
  return toHex(b);
}

function intArg(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v) || Number(v) > 0xffffffff)
    throw new UsageError(`${name} must be an integer 0..4294967295, got ${v}`);
  return Number(v);
}

async function cardNew(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(
    args,
    {
      profile: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      csn: { type: 'string' },
      balance: { type: 'string' },
      pin: { type: 'string' },
      'meter-id': { type: 'string' },
      'terminal-id': { type: 'string' },
      max: { type: 'string' },
    },
    false,
    USAGE_NEW,
  );
  const profile = values.profile as ProfileName | undefined;
  if (!profile || !PROFILE_NAMES.includes(profile))
    throw new UsageError(`--profile must be one of ${PROFILE_NAMES.join(', ')}`);
  if (!values.out) throw new UsageError('--out <file> is required');
  const seed = values.seed ?? '0';
  const meter = {
    meterId: hexArg(values['meter-id'], '--meter-id', 3, '000123'),
    terminalId: hexArg(values['terminal-id'], '--terminal-id', 4, '00000123'),
  };
  let config: Record<string, unknown>;
  if (profile === 'subscriber' || profile === 'subscriber-t0') {
    if (values.pin !== undefined && !/^[0-9]{4,8}$/.test(values.pin))
      throw new UsageError('--pin must be 4..8 digits');
    config = {
      demoIssuerSeed: seed,
      csn: hexArg(values.csn, '--csn', 8, '4D50000000000001'),
      purses: defaultPurses(),
      ...(values.pin ? { pin: values.pin } : {}),
    };
  } else if (profile === 'sam') {
    config = { demoIssuerSeed: seed, ...meter };
  } else {
    config = { demoIssuerSeed: seed, ...meter, max: intArg(values.max, '--max', 1_000_000) };
  }
  const card = buildCard(profile, config);
  const balance = intArg(values.balance, '--balance', 0);
  if (balance > 0) {
    if (profile !== 'subscriber' && profile !== 'subscriber-t0')
      throw new UsageError('--balance is for subscriber cards');
    // Real LOAD commands with the demo issuer's credit key, as a vending point would send them.
    const issuer = IssuerKeys.demo(new NodeCipherProvider(), seed);
    const reader = new VirtualReader('issuer', card);
    const pinBlock = values.pin
      ? Uint8Array.from(
          [...values.pin].map((c) => c.charCodeAt(0)).concat(Array(8 - values.pin.length).fill(0xff)),
        )
      : undefined;
    for (const p of defaultPurses()) {
      try {
        await loadCard(await reader.connect(), issuer, {
          purse: p.id,
          amount: balance,
          terminalId: fromHex('49535355'), // "ISSU"
          dateTime: bcdDateTime(Date.now()),
          ...(pinBlock ? { pinBlock } : {}),
        });
      } catch (e) {
        throw new UsageError(`cannot load ${balance} onto purse ${p.id}: ${(e as Error).message}`);
      }
    }
    reader.remove();
  }
  createCardFile(values.out, card);
  io.out(`created ${profile} card file ${values.out}\n`);
  io.out(
    `keys: the seeded DEMO issuer "${seed}" (IssuerKeys.demo, docs/purse-spec.md §2) — public test keys, never real secrets\n`,
  );
  show(readDevice(deviceOf(card, profile).store), io);
  return 0;
}

function show(v: DeviceView, io: Io): void {
  const o: string[] = [];
  if (v.kind === 'subscriber') {
    o.push(
      `subscriber card  CSN ${v.csn}  issuer ${v.issuerId}  expires ${v.expiry}  profile v${v.profileVersion}  keys v${v.keyVersion}`,
    );
    o.push(`PIN: ${v.pin.required ? `required, ${v.pin.triesLeft} tries left` : 'none'}`);
    o.push('purses:');
    for (const p of v.purses)
      o.push(
        `  ${p.id.toString(16).padStart(2, '0')} ${p.name.padEnd(11)} balance ${String(p.balance).padStart(10)}  max ${p.max}  limit ${p.limit}  unit ${p.unit}  counter ${p.counter}  ${p.status}`,
      );
    o.push(`log (${v.log.length} of 10, newest first):`);
    for (const r of v.log)
      o.push(
        `  ${String(r['type']).padEnd(5)} purse ${r['purse']} amount ${r['amount']} balance ${r['balanceAfter']} counter ${r['counter']} terminal ${r['terminalId']} at ${r['dateTime']} mac ${r['mac']}`,
      );
    o.push('meter data:');
    v.meterData.forEach((m, i) => {
      const id = v.purses[i]?.id ?? 0;
      o.push(`  ${PURSE_NAMES[id] ?? id}: ${m ? JSON.stringify(m) : '(empty)'}`);
    });
  } else if (v.kind === 'sam') {
    o.push(
      `meter SAM  meter id ${v.meterId}  terminal id ${v.terminalId}  KT versions ${v.terminalKeyVersions.join(', ')}`,
    );
  } else {
    o.push(`SVM  meter id ${v.meterId}  terminal id ${v.terminalId}`);
    o.push(`balance ${v.balance}  max ${v.max}  counter ${v.counter}`);
    o.push(`pending transfer: ${v.pending ? JSON.stringify(v.pending) : 'none'}`);
    o.push(`log (${v.log.length}, newest first):`);
    for (const r of v.log) o.push(`  ${JSON.stringify(r)}`);
  }
  io.out(`${o.join('\n')}\n`);
}

async function cardShow(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseOptions(args, { json: { type: 'boolean' } }, true, USAGE_SHOW);
  if (positionals.length !== 1) throw new UsageError(`usage: meterpurse ${USAGE_SHOW}`);
  const path = positionals[0]!;
  let opened;
  try {
    opened = openCardFile(path);
  } catch (e) {
    throw new UsageError(`cannot open card file '${path}': ${(e as Error).message}`);
  }
  const origin = cardOrigin(opened.card);
  const profile = origin?.profile as ProfileName | undefined;
  if (!profile || !PROFILE_NAMES.includes(profile))
    throw new UsageError(`'${path}' holds a ${origin?.profile ?? 'unknown'} card, not a purse-system card`);
  opened.card.powerUp(); // recovers a transaction torn before the file was saved (in memory only)
  const view = readDevice(deviceOf(opened.card, profile).store);
  const seed = origin?.config['demoIssuerSeed'];
  if (values.json) {
    io.out(`${JSON.stringify({ profile, demoIssuerSeed: seed ?? null, ...view }, null, 2)}\n`);
    return 0;
  }
  io.out(
    `${path}: ${profile} card${typeof seed === 'string' ? ` (demo issuer "${seed}": public test keys)` : ''}\n`,
  );
  show(view, io);
  return 0;
}

/** `meterpurse card new` / `meterpurse card show` (`card serve` is its own command). */
export const cardCommand: Command = {
  path: ['card'],
  summary: 'create a purse-system card file (new) or show its purses, counters, logs and meter data (show)',
  usage: `${USAGE_NEW}\n       meterpurse ${USAGE_SHOW}`,
  async run(args: string[], io: Io): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'new') return cardNew(rest, io);
    if (sub === 'show') return cardShow(rest, io);
    throw new UsageError(`unknown sub-command '${sub ?? ''}': use 'card new', 'card show' or 'card serve'`);
  },
};
