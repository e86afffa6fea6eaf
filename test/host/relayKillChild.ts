/**
 * The electricity host's relay as a child process for test/host/relay-kill.test.ts: it opens the
 * host database, and on each `{ op: 'round', all }` from its parent runs one `relayOnce`, whose
 * H = 57 exchanges go to the parent (where the meters and the card are) as hex over IPC. With
 * KILL_POINT and KILL_N in its environment it SIGKILLs itself at the KILL_N-th passing of that point:
 *
 *   before-exchange   the message is built from committed state, not yet sent
 *   in-absorb         inside the transaction that stores the answers, before its commit
 *   after-absorb      the answers are committed; the ack has not reached the meter
 */
import { HostDb } from '../../host/service/HostDb.js';
import { RelayService } from '../../host/relay/RelayService.js';
import type { RelayMessage, RelayReply } from '../../host/relay/RelayLink.js';
import { decodeCardCommandsAnswer, encodeCardCommandsRequest } from '../../protocol/cardCommands.js';

const file = process.argv[2]!;
const point = process.env['KILL_POINT'] ?? '';
const n = Number(process.env['KILL_N'] ?? '0');
let passes = 0;
function checkpoint(p: string): void {
  if (p === point && ++passes === n) process.kill(process.pid, 'SIGKILL');
}

const send = (m: unknown) => process.send!(m);
let next = 1;
const waiting = new Map<number, { resolve: (r: RelayReply) => void; reject: (e: Error) => void }>();

class KillableRelay extends RelayService {
  override absorb(meterId: string, message: RelayMessage, reply: RelayReply) {
    return this.db.tx(() => {
      const r = super.absorb(meterId, message, reply);
      checkpoint('in-absorb');
      return r;
    });
  }
}

const db = new HostDb(file);
const relay: RelayService = new KillableRelay(db, {
  exchange(meterId, message) {
    checkpoint('before-exchange');
    const id = next++;
    return new Promise<RelayReply>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      send({
        op: 'exchange',
        id,
        meterId,
        message: Buffer.from(encodeCardCommandsRequest(message)).toString('hex'),
      });
    });
  },
});
const absorb = relay.absorb.bind(relay);
relay.absorb = (m, msg, rep) => {
  const r = absorb(m, msg, rep);
  checkpoint('after-absorb');
  return r;
};

process.on('message', (m: { op: string; id?: number; answer?: string; error?: string; all?: boolean }) => {
  if (m.op === 'reply') {
    const w = waiting.get(m.id!)!;
    waiting.delete(m.id!);
    if (m.error !== undefined) w.reject(new Error(m.error));
    else {
      const a = decodeCardCommandsAnswer(new Uint8Array(Buffer.from(m.answer!, 'hex')));
      w.resolve({ queued: a.queued, next: a.next, more: a.more, answers: a.answers, readings: a.readings });
    }
  } else if (m.op === 'round') {
    relay
      .relayOnce(m.all ? relay.repo.allMeters() : undefined)
      .then((results) => send({ op: 'done', results }))
      .catch((e: unknown) => send({ op: 'failed', error: String(e) }));
  } else if (m.op === 'exit') {
    db.close();
    process.exit(0);
  }
});
send({ op: 'ready' });
