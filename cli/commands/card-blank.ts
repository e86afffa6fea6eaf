/**
 * `meterpurse card blank`: the chip manufacturer's step — a blank (pre-personalised, LCS 03) chip
 * of one kind as a card file, holding only its chip serial (ICSN), the transport key version and
 * its own transport key K_tr = diversify(diversify(MK_tr, 'TR' ‖ kind), ICSN) (docs/personalisation.md §1). The card is
 * then personalised over APDUs with the issuer's master-key card (`card issue`), in process or
 * served through `card serve` + vpcd to a PC/SC reader.
 *
 * MK_tr comes from the manufacturer's transport master file (`keys ceremony transport-master`;
 * JSON with the key version and KCV, checked on reading: cli/issue/transportMasterFile.ts) or, for
 * labs and tests, the documented demo transport seed. Only K_tr goes into the card; MK_tr is
 * wiped after use.
 */
import { existsSync } from 'node:fs';
import type { Command, Io } from '../Command.js';
import { CommandError, UsageError, parseOptions } from '../Command.js';
import {
  BLANK_KINDS,
  BLANK_PROFILE,
  NodeCipherProvider,
  PersoCrypto,
  buildCard,
  demoTransportMaster,
  fromHex,
  toHex,
  wipe,
  type BlankKind,
  KIND_OF,
} from '../../card/index.js';
import { createCardFile } from '../cardfile/index.js';
import { readTransportMasterFile } from '../issue/transportMasterFile.js';
import { CARD_FILE_OPTIONS, cardFileOptions, describeSeal } from './card.js';

const USAGE =
  'card blank --kind subscriber|sam|svm|commissioning --icsn <hex8> (--transport-key-file <f> | --demo-transport-seed <S> [--tkv <1..15>]) --out <file> [--protocol T=0|T=1] [--force] [--key-file <path>] [--unsealed]';

const OPTIONS = {
  kind: {
    type: 'string',
    value: '<subscriber|sam|svm|commissioning>',
    help: 'what the chip will become',
    byDefault: 'required',
  },
  icsn: {
    type: 'string',
    value: '<hex8>',
    help: "the chip's serial number (8 bytes hex)",
    byDefault: 'required',
  },
  'transport-key-file': {
    type: 'string',
    value: '<file>',
    help: "the transport master MK_tr (32 hex digits; the manufacturer's, never given on the command line)",
  },
  'demo-transport-seed': {
    type: 'string',
    value: '<S>',
    help: 'use the documented DEMO transport master of this seed (public test key) instead',
  },
  tkv: {
    type: 'string',
    value: '<1..15>',
    help: 'the transport key version (the MKC slot MK_tr[v])',
    byDefault: '1',
  },
  kcv: {
    type: 'string',
    value: '<hex3>',
    help: "MK_tr's key check value: the file is refused when it differs",
  },
  protocol: {
    type: 'string',
    value: '<T=0|T=1>',
    help: 'subscriber chips: the protocol of the ATR',
    byDefault: 'T=1',
  },
  out: { type: 'string', value: '<file>', help: 'the card file to write', byDefault: 'required' },
  force: { type: 'boolean', help: 'overwrite an existing card file (that card is lost)' },
  ...CARD_FILE_OPTIONS,
} as const;

async function cardBlank(args: string[], io: Io): Promise<number> {
  const { values } = parseOptions(args, OPTIONS, false, USAGE);
  const kind = values.kind as BlankKind | undefined;
  if (!kind || !BLANK_KINDS.includes(kind))
    throw new UsageError(`--kind must be one of ${BLANK_KINDS.join(', ')}`);
  if (!values.out) throw new UsageError('--out <file> is required');
  if (existsSync(values.out) && !values.force)
    throw new UsageError(`${values.out} exists: a card file is a card; --force to overwrite it`);
  if (!values.icsn || !/^[0-9A-Fa-f]{16}$/.test(values.icsn))
    throw new UsageError(`--icsn must be 8 bytes hex, got ${values.icsn ?? 'nothing'}`);
  const protocol = values.protocol ?? 'T=1';
  if (protocol !== 'T=0' && protocol !== 'T=1')
    throw new UsageError(`--protocol must be T=0 or T=1, got ${protocol}`);
  if (protocol === 'T=0' && kind !== 'subscriber')
    throw new UsageError('--protocol T=0 is for subscriber chips');
  const fileGiven = values['transport-key-file'] !== undefined;
  const seedGiven = values['demo-transport-seed'] !== undefined;
  if (fileGiven === seedGiven)
    throw new UsageError('give one of --transport-key-file <f> or --demo-transport-seed <S>');
  if (fileGiven && values.tkv !== undefined)
    throw new UsageError('--tkv goes with --demo-transport-seed: a transport master file names its version');

  const cipher = new NodeCipherProvider();
  let tkv: number;
  let master: Uint8Array;
  if (fileGiven) ({ tkv, key: master } = readTransportMasterFile(values['transport-key-file']!, cipher));
  else {
    const tkvText = values.tkv ?? '1';
    if (!/^[0-9]{1,2}$/.test(tkvText) || Number(tkvText) < 1 || Number(tkvText) > 15)
      throw new UsageError(`--tkv must be 1..15, got ${tkvText}`);
    tkv = Number(tkvText);
    master = demoTransportMaster(cipher, values['demo-transport-seed']!);
  }
  const icsn = fromHex(values.icsn);
  const transportKey = new PersoCrypto(cipher).transportKey(master, icsn, KIND_OF[kind]);
  wipe(master);
  const card = buildCard(BLANK_PROFILE[kind], {
    icsn: toHex(icsn),
    tkv,
    transportKey: toHex(transportKey),
    ...(kind === 'subscriber' ? { protocol } : {}),
  });
  wipe(transportKey);
  let seal;
  try {
    seal = createCardFile(values.out, card, {
      ...cardFileOptions(values),
      onKeyCreated: (p) =>
        io.out(`created card key file ${p} (mode 0600; keep it away from the card files)\n`),
    });
  } catch (e) {
    throw new CommandError(`cannot write card file '${values.out}': ${(e as Error).message}`, { cause: e });
  }
  io.out(
    `created blank ${kind} chip ${values.out}: ICSN ${toHex(icsn)}, transport key version ${tkv}, life cycle 03 (blank); ${describeSeal(seal)}\n`,
  );
  return 0;
}

export const cardBlankCommand: Command = {
  path: ['card', 'blank'],
  summary:
    "make a blank chip (transport key only) as a card file: the manufacturer's step before personalisation",
  usage: USAGE,
  errorName: 'card',
  options: OPTIONS,
  examples: [
    'card blank --kind subscriber --icsn 4943534E00000001 --demo-transport-seed 0 --out blank.card',
    'card blank --kind sam --icsn 4943534E00000002 --transport-key-file transport.json --out sam-blank.card',
  ],
  run: (args, io) => cardBlank(args, io),
};
