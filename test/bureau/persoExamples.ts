/**
 * The worked examples of docs/personalisation.md: a seeded key ceremony (two custodians, utility
 * 01, seed "personalisation-spec"), a master-key card loaded and sealed with it, and one blank
 * subscriber chip personalised through the bureau flow, every APDU to the MKC and to the chip
 * recorded in order. Run `npx tsx test/bureau/persoExamples.ts --write` to regenerate the
 * document's ```apdu and ```values blocks; test/bureau/persoSpec.test.ts regenerates them and
 * fails on any difference, so the document cannot drift from the implementation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  IssuerKeys,
  NodeCipherProvider,
  PersoCrypto,
  SeededRng,
  fromHex,
  kcv,
  makeBlankCard,
  makeMasterKeyCard,
  toHex,
  type CommandApdu,
  type ResponseApdu,
  KIND_SUBSCRIBER,
} from '../../card/index.js';
import type { UtilityMasters } from '../../card/applets/IssuerKeys.js';
import { VirtualReader, type CardChannel } from '../../reader/index.js';
import {
  MasterKeyCard,
  ceremonySlots,
  combineComponents,
  generateComponents,
  personalise,
} from '../../terminal/index.js';
import { interceptChannel } from '../reader/interceptChannel.js';

export const PERSO_SEED = 'personalisation-spec';
const hexOf = (k: Uint8Array | string) => (typeof k === 'string' ? k : toHex(k));
const spaced = (b: Uint8Array) => toHex(b).replace(/(..)(?!$)/g, '$1 ');

function line(who: string, c: CommandApdu, r: ResponseApdu): string[] {
  return [`${who}> ${spaced(c.encode())}`, `${who}< ${spaced(r.encode())}`];
}

/** Generates every example block of the document: name → lines. */
export async function generate(): Promise<Map<string, string[]>> {
  const cipher = new NodeCipherProvider();
  const perso = new PersoCrypto(cipher);
  const { files, manifest } = generateComponents(
    new SeededRng(`${PERSO_SEED}:ceremony`),
    cipher,
    ceremonySlots([1], 2, 1, 1),
    2,
  );
  const master = (slot: number) =>
    combineComponents(files.map((f) => f.components.find((c) => c.slot === slot)!.component));
  const blocks = new Map<string, string[]>();

  // The ceremony, as the manifest shows it (KCVs only).
  blocks.set(
    'ceremony',
    manifest.slots.map(
      (s) =>
        `${s.name.padEnd(13)} slot ${s.slot.toString(16).padStart(2, '0').toUpperCase()}  v${s.version}  KCV ${hexOf(s.kcv)}  components ${s.components.map(hexOf).join(' ')}`,
    ),
  );

  const mkcDev = makeMasterKeyCard({
    serial: fromHex('4D4B430000000001'),
    pin: '2468',
    cipher,
    rng: new SeededRng(`${PERSO_SEED}:mkc`),
  });
  const log: string[] = [];
  const recorded = (inner: CardChannel, who: string): CardChannel =>
    interceptChannel(inner, async (c, next) => {
      const r = await next(c);
      log.push(...line(who, c, r));
      return r;
    });
  const mkcCh = await new VirtualReader('MKC', mkcDev.os).connect();
  const mkc = await MasterKeyCard.open(recorded(mkcCh, 'mkc'), '2468');
  blocks.set('mkc-open', log.splice(0));
  await mkc.loadComponents(files[0]!);
  blocks.set('mkc-load', log.splice(0).slice(0, 4)); // the first two components of custodian 1
  await mkc.loadComponents(files[1]!);
  await mkc.seal(manifest);
  log.splice(0);

  const icsn = fromHex('4943534E00000001');
  const mkTr = master(0x01);
  const kTr = perso.transportKey(mkTr, icsn, KIND_SUBSCRIBER);
  const chip = makeBlankCard('subscriber', {
    icsn,
    tkv: 1,
    transportKey: kTr,
    cipher,
    rng: new SeededRng(`${PERSO_SEED}:chip`),
  });
  const chipCh = recorded(await new VirtualReader('chip', chip.os).connect(), 'chip');
  await personalise(mkc, chipCh, {
    kind: 'subscriber',
    csn: fromHex('4D50000000000001'),
    issuerId: fromHex('4D505552'),
    expiry: fromHex('301231'),
    purses: [{ id: 1, balance: 1000, max: 5_000_00, limit: 1_000_00, unit: 978 }],
    pin: '1234',
  });
  blocks.set('session', log.splice(0));

  // The values an implementer checks their own terminal or chip against.
  const session = blocks.get('session')!;
  /** The first 8 bytes of the answer to the first command starting with `command`. */
  const answerTo = (command: string) => {
    const i = session.findIndex((l) => l.startsWith(command));
    return fromHex(
      session[i + 1]!.replace(/^[a-z]+< /, '')
        .replace(/ /g, '')
        .slice(0, 16),
    );
  };
  const rt = answerTo('chip> 80 84');
  const rm = answerTo('mkc> 80 70');
  const { enc, mac } = perso.sessionKeys(kTr, rt, rm);
  const issuer = new IssuerKeys(cipher, [
    [
      1,
      {
        auth: master(0x11),
        debit: master(0x12),
        credit: master(0x13),
        proof: master(0x14),
        svm: master(0x15),
        commission: master(0x16),
        host: [
          [0, master(0x18)],
          [1, master(0x19)],
        ],
      } satisfies UtilityMasters,
    ],
  ]);
  const k = issuer.cardKeys(fromHex('4D50000000000001'), 1);
  blocks.set('values', [
    `MK_tr[1] = ${spaced(mkTr)}   (KCV ${toHex(kcv(cipher, mkTr))})`,
    `ICSN = ${spaced(icsn)}`,
    `K_tr = diversify(diversify(MK_tr[1], 'TR' ‖ 01), ICSN) = ${spaced(kTr)}`,
    `RT = ${spaced(rt)}`,
    `RM = ${spaced(rm)}`,
    `SK_enc = sessionKey(K_tr, RT, RM) = ${spaced(enc)}`,
    `SK_mac = sessionKey(K_tr, ~RT, ~RM) = ${spaced(mac)}`,
    `K_auth[01](CSN 4D50000000000001) = ${spaced(k.auth)}   (KCV ${toHex(kcv(cipher, k.auth))})`,
    `K_debit[01] = ${spaced(k.debit)}   (KCV ${toHex(kcv(cipher, k.debit))})`,
    `K_credit[01] = ${spaced(k.credit)}   (KCV ${toHex(kcv(cipher, k.credit))})`,
    `K_proof[01] = ${spaced(k.proof)}   (KCV ${toHex(kcv(cipher, k.proof))})`,
  ]);
  return blocks;
}

/** Replaces the body of every `<!-- example:NAME -->` fenced block of `doc` with the generated text. */
export function fill(doc: string, blocks: Map<string, string[]>): string {
  return doc.replace(
    /<!-- example:([a-z-]+) -->\n```(apdu|values)\n[\s\S]*?```/g,
    (whole, name: string, kind: string) => {
      const b = blocks.get(name);
      if (!b) return whole;
      return `<!-- example:${name} -->\n\`\`\`${kind}\n${b.join('\n')}\n\`\`\``;
    },
  );
}

export const DOC_PATH = fileURLToPath(new URL('../../docs/personalisation.md', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const blocks = await generate();
  writeFileSync(DOC_PATH, fill(readFileSync(DOC_PATH, 'utf8'), blocks));
  console.log(`wrote ${[...blocks.keys()].join(', ')} into ${DOC_PATH}`);
}
