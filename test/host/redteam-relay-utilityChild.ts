/**
 * The gas utility's server as a child process for test/host/redteam-relay-kill.test.ts (red team
 * R2): it opens its own database file and runs `sell` / `poll` on its parent's `{ op }` messages;
 * its RelayPort calls go to the parent (where the electricity host's relay lives) over IPC. With
 * KILL_POINT and KILL_N in its environment it SIGKILLs itself at the KILL_N-th passing of:
 *
 *   in-sale          inside the sale's transaction (seq allocated, load signed), before its commit
 *   before-record    the relay stored the submission; its relay id not yet recorded here
 *   in-settle        inside the transaction booking a relay answer, before its commit
 *   in-reading       inside the transaction storing a verified reading (and queuing its CLEAR)
 *   before-cursor    readings stored; the readings cursor not yet saved
 */
import { IssuerKeys } from '../../card/applets/IssuerKeys.js';
import { fromHex } from '../../card/util/hex.js';
import type { RelayCommandStatus, RelayPort, RelayedReading } from '../../host/utility/RelayPort.js';
import { RelayPortError } from '../../host/utility/RelayPort.js';
import { UtilityServer } from '../../host/utility/UtilityServer.js';
import { UtilityDb } from '../../host/utility/db/UtilityDb.js';
import { World, cipher } from '../transfer/world.js';

const file = process.argv[2]!;
const point = process.env['KILL_POINT'] ?? '';
const n = Number(process.env['KILL_N'] ?? '0');
let passes = 0;
function checkpoint(p: string): void {
  if (p === point && ++passes === n) process.kill(process.pid, 'SIGKILL');
}
const send = (m: unknown) => process.send!(m);

let next = 1;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
function call(method: string, args: unknown[]): Promise<unknown> {
  const id = next++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    send({ op: 'relay', id, method, args });
  });
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string | null) => (h === null ? null : new Uint8Array(Buffer.from(h, 'hex')));
type StatusJson = Omit<RelayCommandStatus, 'answer'> & { answer: string | null };
const status = (s: StatusJson): RelayCommandStatus => ({ ...s, answer: bytes(s.answer) });

const port: RelayPort = {
  submit: async (c) => status((await call('submit', [{ ...c, data: hex(c.data) }])) as StatusJson),
  command: async (id) => status((await call('command', [id])) as StatusJson),
  readings: async (after, limit) => {
    const p = (await call('readings', [after, limit])) as {
      items: Array<Omit<RelayedReading, 'record'> & { record: string }>;
      next: number | null;
    };
    return { items: p.items.map((r) => ({ ...r, record: bytes(r.record)! })), next: p.next };
  },
};

const db = new UtilityDb(file);
const wrap = <K extends keyof UtilityDb>(k: K, before: string | null, after: string | null) => {
  const orig = (db[k] as (...a: unknown[]) => unknown).bind(db);
  (db as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => {
    if (before) checkpoint(before);
    const r = orig(...a);
    if (after) checkpoint(after);
    return r;
  };
};
wrap('insertSaleInTx', null, 'in-sale');
wrap('submitted', 'before-record', null);
wrap('doneInTx', null, 'in-settle');
wrap('insertReadingInTx', null, 'in-reading');
wrap('setCursor', 'before-cursor', null);

const world = new World({ seed: 'relay', cardBalance: 0 });
const server = new UtilityServer({
  db,
  issuer: new IssuerKeys(cipher, [[2, world.issuer.utility(2)]]),
  purse: 2,
  relay: port,
  clock: () => Date.UTC(2026, 10, 22, 8, 30, 0),
  sellerId: fromHex('47415331'),
});

process.on(
  'message',
  (m: {
    op: string;
    id?: number;
    value?: unknown;
    error?: { status: number; code: string; message: string } | string;
    csn?: string;
    amount?: number;
    ref?: string;
  }) => {
    if (m.op === 'relay-reply') {
      const w = waiting.get(m.id!)!;
      waiting.delete(m.id!);
      if (m.error === undefined) w.resolve(m.value);
      else if (typeof m.error === 'string') w.reject(new Error(m.error));
      else w.reject(new RelayPortError(m.error.status, m.error.code, m.error.message));
    } else if (m.op === 'sell' || m.op === 'poll') {
      const run = m.op === 'sell' ? server.sell(m.csn!, m.amount!, m.ref!) : server.poll();
      run.then(() => send({ op: 'done' })).catch((e: unknown) => send({ op: 'failed', error: String(e) }));
    } else if (m.op === 'exit') {
      db.close();
      process.exit(0);
    }
  },
);
send({ op: 'ready' });
