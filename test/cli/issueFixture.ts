/**
 * A bureau for the `card issue` tests and bench: a key ceremony (two custodians, utilities 1..5,
 * MK_tr[1]) loaded into a fresh master-key card and sealed, saved as a sealed card file; the
 * manufacturer's transport master file; a subscribers CSV; optionally a host with those
 * subscribers, listening on 127.0.0.1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { NodeCipherProvider, SeededRng, fromHex, makeMasterKeyCard } from '../../card/index.js';
import { VirtualReader } from '../../reader/index.js';
import { MasterKeyCard, ceremonySlots, combineComponents, generateComponents } from '../../terminal/index.js';
import { createCardFile } from '../../cli/cardfile/index.js';
import { encodeTransportMaster } from '../../cli/issue/transportMasterFile.js';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/Command.js';
import { HostDb } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { buildApi } from '../../host/service/api.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';

export const MKC_PIN = '246810';
export const MKC_SERIAL = '4D4B430000000001';

export interface Bureau {
  dir: string;
  mkcPath: string;
  keyFile: string;
  transportPath: string;
  /** Environment for a spawned CLI (PIN, no card-key lookups outside `dir`). */
  env: Record<string, string>;
}

export interface BureauOptions {
  /** Utilities of the ceremony; default 1..5. */
  utilities?: number[];
  /** Host master versions KH[u][n] per utility; default 1 (a SAM needs 2). */
  khVersions?: number;
  /** The MKC's PIN and serial; default MKC_PIN, MKC_SERIAL. */
  pin?: string;
  serial?: string;
}

/** Makes the MKC card file, the card key and the transport master file under `dir`. */
export async function makeBureau(
  dir: string,
  seed = 'issue-fixture',
  o: BureauOptions = {},
): Promise<Bureau> {
  const cipher = new NodeCipherProvider();
  const pin = o.pin ?? MKC_PIN;
  const { files, manifest } = generateComponents(
    new SeededRng(seed),
    cipher,
    ceremonySlots(o.utilities ?? [1, 2, 3, 4, 5], o.khVersions ?? 1, 1),
    2,
  );
  const device = makeMasterKeyCard({ serial: fromHex(o.serial ?? MKC_SERIAL), pin, cipher });
  const mkc = await MasterKeyCard.open(await new VirtualReader('mkc', device.os).connect(), pin);
  for (const f of files) await mkc.loadComponents(f);
  await mkc.seal(manifest);
  mkdirSync(join(dir, 'keys'), { recursive: true });
  const keyFile = join(dir, 'keys', 'card.key');
  const mkcPath = join(dir, 'mkc.card');
  createCardFile(mkcPath, device.os, { keyFile });
  const mkTr = combineComponents(files.map((f) => f.components.find((c) => c.slot === 1)!.component));
  const transportPath = join(dir, 'keys', 'mk-tr.json');
  writeFileSync(transportPath, encodeTransportMaster(cipher, 1, mkTr), { mode: 0o600 });
  return {
    dir,
    mkcPath,
    keyFile,
    transportPath,
    env: { MP_MKC_PIN: pin, MP_CONFIG_DIR: join(dir, 'config') },
  };
}

/** A CSV of `n` subscribers with ids `firstId`.. (purses 1 and 2, every other one with a PIN). */
export function subscribersCsv(n: number, firstId = 1): string {
  const lines = ['subscriber,purses,pin,expiry'];
  for (let i = 0; i < n; i++)
    lines.push(`${firstId + i},1:${(i * 100) % 500_000};2:0,${i % 2 ? '1234' : ''},${i % 3 ? '301231' : ''}`);
  return `${lines.join('\n')}\n`;
}

/** A host with subscribers 1..n, its API on 127.0.0.1, and a vending key. */
export async function startHost(dir: string, subscribers: number) {
  const cipher = new NodeCipherProvider();
  mkdirSync(dir, { recursive: true });
  const svc = new HostService({
    db: new HostDb(join(dir, 'host.db')),
    cipher,
    rng: new SeededRng('issue-host'),
    gateway: new SimulatedPaymentGateway(),
    field: (keys) => new SimulatedField(cipher, keys, join(dir, 'field.json')),
  });
  for (let i = 1; i <= subscribers; i++) svc.addSubscriber({ name: `s${i}` });
  const key = svc.apiKeys.create(['vending'], 'bureau').key;
  const keyPath = join(dir, 'vending.key');
  writeFileSync(keyPath, `${key}\n`, { mode: 0o600 });
  const app = buildApi(svc);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    svc,
    url,
    keyPath,
    cards: () => svc.registry.cardPage(1_000_000).items,
    close: async () => {
      await app.close();
      svc.close();
    },
  };
}

/**
 * `card issue --batch` in process (cli/main.ts) with the bureau's MKC, transport master and card
 * key, writing `csv` (unless null: the file is left as it is) to `<dir>/batch.csv`.
 */
export async function issueBatch(
  b: Bureau,
  extra: string[],
  csv: string | null,
  outDir = join(b.dir, 'out'),
  io: Partial<Io> = {},
): Promise<{ status: number; out: string; err: string; outDir: string }> {
  const csvPath = join(b.dir, 'batch.csv');
  if (csv !== null) writeFileSync(csvPath, csv);
  let out = '';
  let err = '';
  const status = await main(
    [
      'card',
      'issue',
      '--batch',
      csvPath,
      '--mkc',
      b.mkcPath,
      '--out',
      outDir,
      '--transport-key-file',
      b.transportPath,
      '--key-file',
      b.keyFile,
      ...extra,
    ],
    { ...io, out: (t) => void (out += t), err: (t) => void (err += t) },
  );
  return { status, out, err, outDir };
}
