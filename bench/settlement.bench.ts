// Records cleared per second by seed 004's management centre (issue 13, "Measured"): a batch of
// uploaded usage records, durable commits (WAL, synchronous=FULL, one transaction per upload of
// 1,000 records) into a database file.
//
// Outside the timed part: key generation, certification, and signing the uploads (each record
// carries a card ECDSA P-256 signature SU(R‖X‖V), a terminal one S = ST(R‖X‖V'‖IDU), and the
// card-signed service record that confirms the card took the update; signing three million of
// them would dominate any run). 8 card key pairs are shared by 1,000 cards.
// Inside the timed part, per upload: DER decode (strict, re-encoded and compared), the terminal
// certificate and the upload signature verified; per record: the card's and the terminal's
// signatures and the card's service record verified, SHA-256 of the usage, the usage/management
// key h, duplicate and clone look-ups, the value-chain check, the insert and the card's remaining
// value — everything ingestUpload does.
//
// N (records) defaults to 100,000 so `npx tsx bench/run.ts settlement` takes about a minute;
// SETTLEMENT_BENCH_N=1000000 runs the full batch. Measured figures: docs/settlement.md.
import type { Figure } from './run.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, NodeSignatureProvider, SeededRng } from '../card/crypto/index.js';
import { UsageUpload } from '../card/pki/index.js';
import { ManagementCentre } from '../host/settlement/ManagementCentre.js';
import { ExampleCard, ExampleTerminal } from '../host/settlement/examples.js';

const ALG = 'ecdsa-p256-sha256' as const;
const PER_UPLOAD = 1000;
const CARDS = 1000;
const CARD_KEYS = 8;
const TERMINALS = 4;

export default async function bench(): Promise<Figure[]> {
  const n = Number(process.env.SETTLEMENT_BENCH_N ?? 100_000);
  if (!Number.isSafeInteger(n) || n < PER_UPLOAD)
    throw new RangeError(`SETTLEMENT_BENCH_N must be ≥ ${PER_UPLOAD}`);
  const provider = new NodeSignatureProvider();
  const t0 = Date.UTC(2026, 0, 1);
  const clock = new ManualClock(t0 + 86_400_000);
  const dir = mkdtempSync(join(tmpdir(), 'mp-settle-bench-'));
  const centreId = Uint8Array.of(0xc0);
  const centre = new ManagementCentre({
    file: join(dir, 'centre.db'),
    provider,
    clock,
    rng: new SeededRng('bench:centre'),
    maxValue: 0xffffffff,
    centreId,
    algorithm: ALG,
  });
  try {
    const validity = { notBefore: t0, notAfter: t0 + 3650 * 86_400_000 };
    const keys = Array.from({ length: CARD_KEYS }, () => provider.generateKeyPair(ALG));
    const signers = keys.map((k) => provider.signer(ALG, k.privateKey));
    const cards: ExampleCard[] = [];
    for (let i = 0; i < CARDS; i++) {
      const id = Uint8Array.of(0x4d, 0x50, i >> 8, i & 0xff);
      centre.certifyCard(id, keys[i % CARD_KEYS]!.publicKey, validity, ALG);
      centre.signValue(id, 0xffffffff, t0 + 3650 * 86_400_000);
      cards.push(new ExampleCard(id, signers[i % CARD_KEYS]!, 0xffffffff, centreId));
    }
    const rng = new SeededRng('bench:terminals');
    const terminals: ExampleTerminal[] = [];
    for (let i = 0; i < TERMINALS; i++) {
      const k = provider.generateKeyPair(ALG);
      const id = Uint8Array.of(0x7e, i);
      centre.certifyTerminal(
        id,
        k.publicKey,
        { key: new Uint8Array(16).fill(i), ts0: new Uint8Array(16).fill(0x80 | i) },
        validity,
        ALG,
      );
      terminals.push(new ExampleTerminal(id, provider.signer(ALG, k.privateKey), rng));
    }

    // Untimed: sign the uploads (round-robin over cards so every card's chain grows in time order).
    const g0 = performance.now();
    const uploads: { upload: Uint8Array; serviceRecords: Uint8Array[] }[] = [];
    let at = clock.now();
    for (let u = 0; u * PER_UPLOAD < n; u++) {
      const t = terminals[u % TERMINALS]!;
      for (let j = 0; j < PER_UPLOAD; j++) t.serve(cards[(u * PER_UPLOAD + j) % CARDS]!, 1, (at += 1000));
      const b = t.batch(centreId, t0, at);
      uploads.push({ upload: b.upload.encode(), serviceRecords: b.serviceRecords.map((r) => r.encode()) });
    }
    const genSeconds = (performance.now() - g0) / 1000;
    const bytes = uploads.reduce(
      (s, u) => s + u.upload.length + u.serviceRecords.reduce((a, r) => a + r.length, 0),
      0,
    );
    // The records are dated up to `at`: the centre's clock is there by the time they are uploaded.
    clock.set(at);

    // Timed: clear every upload, one durable transaction each.
    const c0 = performance.now();
    let stored = 0;
    for (const u of uploads) stored += centre.ingestUpload(u).stored;
    const seconds = (performance.now() - c0) / 1000;
    if (stored !== uploads.length * PER_UPLOAD)
      throw new Error(`stored ${stored} of ${uploads.length * PER_UPLOAD}`);
    if (centre.events().length !== 0) throw new Error('an honest batch produced findings');

    // Apart, for the breakdown: the strict DER decode alone (part of the clearing time above).
    const d0 = performance.now();
    for (const u of uploads) UsageUpload.decode(u.upload);
    const decodeSeconds = (performance.now() - d0) / 1000;

    return [
      {
        name: `records in the batch (N; ${uploads.length} uploads of ${PER_UPLOAD})`,
        value: stored,
        unit: 'records',
      },
      {
        name: 'records cleared per second (3 ECDSA verifications + durable commit)',
        value: stored / seconds,
        unit: 'records/s',
        target: '1,000,000-record batch',
      },
      {
        name: 'uploads committed per second (1,000 records each)',
        value: uploads.length / seconds,
        unit: 'uploads/s',
      },
      { name: 'clearing time for the batch', value: seconds, unit: 's' },
      { name: 'of which strict DER decode of the uploads (card/pki)', value: decodeSeconds, unit: 's' },
      { name: 'upload bytes per record (DER)', value: bytes / stored, unit: 'B' },
      { name: 'untimed: signing the batch (3 ECDSA signs per record)', value: genSeconds, unit: 's' },
    ];
  } finally {
    centre.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
