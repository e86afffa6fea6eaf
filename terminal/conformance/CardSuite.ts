/**
 * Conformance run against a subscriber card under test (docs/purse-spec.md §3; docs/conformance.md
 * lists every case). Runs over any `CardChannel` — a PC/SC reader with a lab's chip, ours through
 * vpcd, or an in-process VirtualReader — and does no file I/O.
 *
 * The card should end as it began: a case that moves value moves it back (LOAD then DEBIT of the
 * same small amount, or the other way round near the maximum), and a case that a faulty card lets
 * move value by mistake gives it back before it reports the failure. What stays changed is stated
 * per case (`leaves`): the purse counter (+2 per round trip, it never repeats), the log records
 * those transactions write, and the meter-data record rewritten with its own bytes.
 *
 * Cases run in order on one card; each starts from a fresh SELECT (which ends any session, §3.1).
 */
import {
  AID_PURSE,
  CommandApdu,
  LOG_RECORDS,
  LogRecord,
  PurseState,
  SystemRng,
  bcdDateTime,
  findTlv,
  fromHex,
  toHex,
  verifyMac,
} from '../../card/index.js';
import type { BlockCipherProvider, Rng } from '../../card/index.js';
import { CardChannelError } from '../../reader/index.js';
import type { CardChannel } from '../../reader/index.js';
import * as A from '../apdus.js';
import { CardProbe, CaseFailure, CaseSkipped, recordInput, statusInput, swText } from './CardProbe.js';
import type { ConformanceKeys } from './ConformanceKeys.js';

export type CaseStatus = 'pass' | 'fail' | 'skip' | 'warn' | 'error';

/** One named check of the specification. */
export interface CaseResult {
  readonly id: string;
  readonly title: string;
  /** The spec section it tests, e.g. "§3.4". */
  readonly section: string;
  readonly status: CaseStatus;
  /** Why it failed, was skipped or warned. */
  readonly message?: string;
  /** What it leaves changed on the card. */
  readonly leaves: string;
  /** The exchanges of the case (hex), kept for failures. */
  readonly exchanges: readonly string[];
  readonly ms: number;
}

export interface RunResult {
  readonly suite: string;
  readonly target: string;
  readonly keys: string;
  readonly csn?: string;
  readonly purse: number;
  readonly cases: readonly CaseResult[];
  readonly ms: number;
  /** Purse state before the first and after the last case. */
  readonly before?: PurseState;
  readonly after?: PurseState;
}

export interface CardRunOptions {
  keys: ConformanceKeys;
  cipher: BlockCipherProvider;
  /** The purse under test; default: 1 when the card has it, else its first. */
  purse?: number;
  /** The CSN the card must have (checked against its FCI). */
  csn?: Uint8Array;
  /** The cardholder PIN, when the card has one (DEBIT and LOAD need it). */
  pin?: string;
  /** Terminal RS and RV challenges; default system randomness. */
  rng?: Rng;
  /** Amount of the LOAD/DEBIT round trips (minor units); default 1. */
  amount?: number;
  /** Only the cases whose id starts with one of these. */
  only?: readonly string[];
  /** Called after each case (progress). */
  onCase?: (c: CaseResult) => void;
}

interface CaseDef {
  id: string;
  title: string;
  section: string;
  leaves?: string;
  /** A failure is reported as a warning: the spec and the implementations are being aligned. */
  advisory?: string;
  run(p: CardProbe, s: SuiteState): Promise<void | string>;
}

interface SuiteState {
  o: CardRunOptions;
  amount: number;
  fci?: Uint8Array;
  pinOnCard?: boolean;
  /** The round trip's two transactions, newest last, for the log case. */
  trip?: { kind: 'D' | 'L'; t: ReturnType<CardProbe['tx']>; after: number; rv: Uint8Array }[];
  lastDebit?: CommandApdu;
}

const NOW = fromHex('261122083000');
const TERMINAL = fromHex('434F4E46'); // "CONF"
const sfiP2 = (sfi: number) => (sfi << 3) | 4;
const cmd = (hex: string) => CommandApdu.decode(fromHex(hex));
const select = (p1: number, p2: number, le = true) =>
  new CommandApdu({ cla: 0, ins: 0xa4, p1, p2, data: AID_PURSE, ...(le ? { ne: 256 } : {}) });

/** Leaves the purse as `before` was: gives back what a faulty card let a case move. */
async function restore(p: CardProbe, before: PurseState): Promise<string> {
  await p.select();
  const now = await p.readPurse();
  if (now.balance === before.balance) return '';
  try {
    if (now.balance < before.balance) await p.load(before.balance - now.balance);
    else await p.debit(now.balance - before.balance);
    return ` (the balance moved by ${now.balance - before.balance} and was given back)`;
  } catch (e) {
    return ` (the balance moved by ${now.balance - before.balance} and could NOT be given back: ${(e as Error).message})`;
  }
}

/** Runs `body` and fails when the purse state moved, giving value back first. */
async function unchanged(p: CardProbe, what: string, body: () => Promise<void>): Promise<void> {
  await p.select();
  const before = await p.readPurse();
  let failure: unknown;
  try {
    await body();
  } catch (e) {
    failure = e;
  }
  const back = await restore(p, before);
  if (failure) {
    if (failure instanceof CaseFailure && back) throw new CaseFailure(failure.message + back);
    throw failure;
  }
  await p.select();
  const after = await p.readPurse();
  if (after.counter !== before.counter || back)
    throw new CaseFailure(`${what} changed the purse (counter ${before.counter} -> ${after.counter})${back}`);
}

const CASES: CaseDef[] = [
  {
    id: 'select.fci',
    title: 'SELECT by AID answers the FCI (AID, CSN, issuer, expiry, purses, key version)',
    section: '§3.2',
    async run(p, s) {
      const fci = await p.ok(select(4, 0), 'SELECT');
      s.fci = fci;
      p.check(fci[0] === 0x6f, `the FCI starts with ${toHex(fci.subarray(0, 1))}, not 6F`);
      const f = (tag: number) => findIn(fci, tag);
      p.check(toHex(f(0x84) ?? new Uint8Array(0)) === toHex(AID_PURSE), 'tag 84 is not the AID');
      const csn = f(0x5a);
      p.check(csn?.length === 8, 'tag 5A (CSN) is missing or not 8 bytes');
      p.check(f(0x42)?.length === 4, 'tag 42 (issuer id) is missing or not 4 bytes');
      p.check(f(0x5f24)?.length === 3, 'tag 5F24 (expiry) is missing or not 3 bytes');
      p.check(f(0xc1)?.length === 1, 'tag C1 (profile version) is missing or not 1 byte');
      p.check(f(0xc3)?.length === 1, 'tag C3 (key version) is missing or not 1 byte');
      const purses = f(0xc2);
      p.check(purses !== undefined && purses.length >= 1, 'tag C2 (purse ids) is missing or empty');
      p.csn = csn!;
      p.purses = [...purses!];
      if (s.o.csn && toHex(s.o.csn) !== toHex(p.csn))
        throw new CaseFailure(`the CSN is ${toHex(p.csn)}, the run was told ${toHex(s.o.csn)}`);
      const want = s.o.purse ?? (p.purses.includes(1) ? 1 : p.purses[0]!);
      if (!p.purses.includes(want))
        throw new CaseFailure(`the card has no purse ${want} (C2 = ${toHex(purses!)})`);
      p.purse = want;
      p.keys = s.o.keys.keysFor(p.csn, want);
      const pinAsk = await p.send(A.verifyPin());
      s.pinOnCard = pinAsk.sw !== 0x6a88;
      if (s.pinOnCard && s.o.pin) p.pin = pinBlockOf(s.o.pin);
      return `CSN ${toHex(p.csn)}, purses ${p.purses.join(' ')}, testing purse ${p.purse}${s.pinOnCard ? ', card has a PIN' : ''}`;
    },
  },
  {
    id: 'select.no-fci',
    title: 'SELECT with P2 = 0C answers no data',
    section: '§3.2',
    async run(p) {
      const r = await p.expectSw(select(4, 0x0c, false), 0x9000, 'SELECT P2=0C');
      p.check(r.data.length === 0, `SELECT P2=0C answered ${r.data.length} bytes of data`);
    },
  },
  {
    id: 'select.unknown-aid',
    title: 'SELECT of an unknown AID is 6A82',
    section: '§3.2',
    async run(p) {
      await p.expectSw(A.selectAid(fromHex('F04D505552534502')), 0x6a82, 'SELECT of F04D505552534502');
    },
  },
  {
    id: 'select.p1p2',
    title:
      'SELECT: P2 with RFU bits set is 6A86; next or previous occurrence is 6A82 (one application); an unknown P1 is 6A86',
    section: '§3.2',
    async run(p) {
      await p.expectSw(select(4, 0x10), 0x6a86, 'SELECT P2=10');
      await p.expectSw(select(4, 0x02), 0x6a82, 'SELECT P2=02 (next occurrence)');
      await p.expectSw(cmd('00A4050C00'), 0x6a86, 'SELECT P1=05');
    },
  },
  {
    id: 'challenge.fresh',
    title: 'GET CHALLENGE answers 8 fresh bytes each time',
    section: '§3.3',
    async run(p) {
      await p.select();
      const a = await p.challenge();
      const b = await p.challenge();
      p.check(toHex(a) !== toHex(b), 'two GET CHALLENGE answered the same bytes');
    },
  },
  {
    id: 'challenge.refusals',
    title: 'GET CHALLENGE: P1-P2 not 0000 is 6A86, Le not 08 is 6700',
    section: '§3.3',
    async run(p) {
      await p.select();
      await p.expectSw(cmd('0084010008'), 0x6a86, 'GET CHALLENGE P1=01');
      await p.expectSw(cmd('0084000004'), 0x6700, 'GET CHALLENGE Le=04');
    },
  },
  {
    id: 'auth.ok',
    title: "MUTUAL AUTHENTICATE with the SAM's cryptogram answers S_card = MAC(SK_auth, RS ‖ RC ‖ CSN)",
    section: '§3.4',
    async run(p) {
      await p.select();
      await p.authenticate();
    },
  },
  {
    id: 'auth.wrong-cryptogram',
    title: 'MUTUAL AUTHENTICATE with a wrong S_sam is 6300, takes the challenge and opens no session',
    section: '§3.4',
    async run(p) {
      await p.select();
      const k = p.k();
      const rc = await p.challenge();
      const rs = p.rng.bytes(8);
      const sk = p.crypto.sessionKey(k.auth, rc, rs);
      const good = p.crypto.mac(sk, rc, rs, p.csn);
      const bad = good.slice();
      bad[7]! ^= 0x01;
      await p.expectSw(
        A.mutualAuthenticate(rs, bad, p.purse),
        0x6300,
        'MUTUAL AUTHENTICATE with S_sam wrong',
      );
      await p.expectSw(
        A.mutualAuthenticate(rs, good, p.purse),
        0x6985,
        'MUTUAL AUTHENTICATE again (the challenge was taken)',
      );
      const md = await p.ok(A.readMeterData(p.purses.indexOf(p.purse) + 1), 'READ RECORD meter data');
      await p.expectSw(
        A.updateMeterData(p.purses.indexOf(p.purse) + 1, md),
        0x6982,
        'UPDATE RECORD after the failed authentication',
      );
    },
  },
  {
    id: 'auth.no-challenge',
    title: 'MUTUAL AUTHENTICATE without GET CHALLENGE is 6985',
    section: '§3.4',
    async run(p) {
      await p.select();
      await p.expectSw(
        A.mutualAuthenticate(new Uint8Array(8), new Uint8Array(8), p.purse),
        0x6985,
        'MUTUAL AUTHENTICATE',
      );
    },
  },
  {
    id: 'auth.refusals',
    title: 'MUTUAL AUTHENTICATE: Lc not 16 is 6700, P1 not 00 or P2 = 00 is 6A86, an unknown purse is 6A88',
    section: '§3.4',
    async run(p) {
      await p.select();
      await p.challenge();
      await p.expectSw(cmd(`008200${hex1(p.purse)}040102030408`), 0x6700, 'MUTUAL AUTHENTICATE Lc=4');
      await p.challenge();
      await p.expectSw(cmd(`0082000010${'00'.repeat(16)}08`), 0x6a86, 'MUTUAL AUTHENTICATE P2=00');
      await p.challenge();
      await p.expectSw(
        cmd(`008201${hex1(p.purse)}10${'00'.repeat(16)}08`),
        0x6a86,
        'MUTUAL AUTHENTICATE P1=01',
      );
      const absent = [...Array(15).keys()].map((i) => i + 1).find((i) => !p.purses.includes(i));
      if (absent === undefined) return 'the card has all 15 purses: no unknown purse to ask for';
      await p.challenge();
      await p.expectSw(
        A.mutualAuthenticate(new Uint8Array(8), new Uint8Array(8), absent),
        0x6a88,
        `MUTUAL AUTHENTICATE of purse ${absent} (not on the card)`,
      );
    },
  },
  {
    id: 'read-purse.state',
    title: 'READ PURSE answers the 17-byte purse state',
    section: '§3.5 §3.1',
    async run(p) {
      await p.select();
      const s = await p.readPurse();
      p.check(s.balance <= s.max, `balance ${s.balance} is above the maximum ${s.max}`);
      p.check(s.status === 0 || s.status === 1, `status byte ${s.status} is neither 00 nor 01`);
      if (s.status !== 0) throw new CaseFailure('the purse is blocked: the run needs an active purse');
      return `balance ${s.balance}, max ${s.max}, limit ${s.limit}, unit ${s.unit}, counter ${s.counter}`;
    },
  },
  {
    id: 'read-purse.signed',
    title: "READ PURSE with RV answers the state ‖ MAC(K_proof, 'S' ‖ CSN ‖ purse ‖ balance ‖ counter ‖ RV)",
    section: '§3.5',
    async run(p) {
      await p.select();
      const k = p.k();
      const s = await p.readPurse();
      const rv = p.rng.bytes(8);
      const d = await p.ok(A.readPurse(p.purse, rv), 'READ PURSE signed');
      p.check(d.length === 25, `signed READ PURSE answered ${d.length} bytes, not 25`);
      p.check(toHex(d.subarray(0, 17)) === toHex(s.encode()), 'the signed state differs from the plain one');
      p.check(
        verifyMac(
          p.crypto.mac(k.proof, statusInput(p.csn, p.purse, s.balance, s.counter, rv)),
          d.subarray(17),
        ),
        'the status MAC is wrong',
      );
    },
  },
  {
    id: 'read-purse.ends-session',
    title: 'a signed READ PURSE ends the SAM session: a DEBIT authorised before it is 6982',
    section: '§3.5',
    leaves: 'nothing (a faulty card that debits is credited back)',
    async run(p, s) {
      await unchanged(p, 'the DEBIT after a signed status', async () => {
        const session = await p.authenticate();
        const st = await p.readPurse();
        await p.ok(A.readPurse(p.purse, p.rng.bytes(8)), 'READ PURSE signed');
        const t = p.tx(s.amount, st.counter + 1);
        await p.expectSw(p.debitCommand(session, t, p.rng.bytes(8)), 0x6982, 'DEBIT after the signed status');
      });
    },
  },
  {
    id: 'read-purse.refusals',
    title: 'READ PURSE: an unknown purse is 6A88, Lc not 0 or 8 is 6700, P1 not 00 is 6A86',
    section: '§3.5',
    async run(p) {
      await p.select();
      const absent = [...Array(15).keys()].map((i) => i + 1).find((i) => !p.purses.includes(i));
      if (absent !== undefined)
        await p.expectSw(A.readPurse(absent), 0x6a88, `READ PURSE of purse ${absent}`);
      await p.expectSw(cmd(`805C00${hex1(p.purse)}02010200`), 0x6700, 'READ PURSE Lc=2');
      await p.expectSw(cmd(`805C01${hex1(p.purse)}00`), 0x6a86, 'READ PURSE P1=01');
    },
  },
  {
    id: 'debit.no-session',
    title: 'DEBIT without MUTUAL AUTHENTICATE is 6982',
    section: '§3.6',
    leaves: 'nothing',
    async run(p, s) {
      await unchanged(p, 'DEBIT without a session', async () => {
        const st = await p.readPurse();
        const fake = { rc: new Uint8Array(8), rs: new Uint8Array(8), skDebit: p.k().debit };
        await p.expectSw(
          p.debitCommand(fake, p.tx(s.amount, st.counter + 1), p.rng.bytes(8)),
          0x6982,
          'DEBIT without a session',
        );
      });
    },
  },
  {
    id: 'debit.wrong-mac',
    title: 'DEBIT with a wrong MAC is 6300 and ends the session (the right MAC is then 6982)',
    section: '§3.6 §10',
    leaves: 'nothing',
    async run(p, s) {
      await unchanged(p, 'the DEBIT with a wrong MAC', async () => {
        const session = await p.authenticate();
        const st = await p.readPurse();
        const t = p.tx(s.amount, st.counter + 1);
        const rv = p.rng.bytes(8);
        await p.expectSw(p.debitCommand(session, t, rv, true), 0x6300, 'DEBIT with a wrong MAC');
        await p.expectSw(
          p.debitCommand(session, t, rv),
          0x6982,
          'DEBIT with the right MAC after the wrong one',
        );
      });
    },
  },
  {
    id: 'debit.length',
    title: 'DEBIT with Lc not 30 is 6700',
    section: '§3.6',
    leaves: 'nothing',
    async run(p) {
      await unchanged(p, 'the short DEBIT', async () => {
        await p.authenticate();
        await p.expectSw(cmd(`805400${hex1(p.purse)}1D${'00'.repeat(29)}00`), 0x6700, 'DEBIT Lc=29');
      });
    },
  },
  {
    id: 'load-debit.round-trip',
    title: 'LOAD with K_credit then DEBIT of the same amount: balances, counters +1, receipt and proof MACs',
    section: '§3.6 §3.7 §3.1',
    leaves: 'balance as before; counter +2; two log records (a load and a debit)',
    async run(p, s) {
      await p.select();
      const st = await p.readPurse();
      const a = s.amount;
      s.trip = [];
      if (st.balance + a <= st.max) {
        const l = await p.load(a);
        s.trip.push({ kind: 'L', t: l.t, after: l.balance, rv: l.rc });
        await p.select();
        const d = await p.debit(a);
        s.trip.push({ kind: 'D', t: d.t, after: d.balance, rv: d.rv });
        s.lastDebit = d.cmd;
      } else {
        const d = await p.debit(a);
        s.trip.push({ kind: 'D', t: d.t, after: d.balance, rv: d.rv });
        s.lastDebit = d.cmd;
        await p.select();
        const l = await p.load(a);
        s.trip.push({ kind: 'L', t: l.t, after: l.balance, rv: l.rc });
      }
      await p.select();
      const end = await p.readPurse();
      p.check(
        end.balance === st.balance,
        `balance ${end.balance} after the round trip, ${st.balance} before`,
      );
      p.check(
        end.counter === st.counter + 2,
        `counter ${end.counter} after two transactions, ${st.counter} before`,
      );
    },
  },
  {
    id: 'log.records',
    title: 'READ RECORD of the log: newest first, the fields of each transaction, MACs under K_proof',
    section: '§3.8 §3.1',
    async run(p, s) {
      if (!s.trip || s.trip.length !== 2) throw new CaseSkipped('needs the LOAD/DEBIT round trip');
      await p.select();
      const k = p.k();
      for (let n = 1; n <= 2; n++) {
        const want = s.trip[2 - n]!;
        const raw = await p.ok(A.readLogRecord(n), `READ RECORD ${n} of the log`);
        p.check(raw.length === 38, `log record ${n} is ${raw.length} bytes, not 38`);
        const r = LogRecord.decode(raw);
        const what = `log record ${n}`;
        p.check(
          r.type === (want.kind === 'L' ? 1 : 2),
          `${what}: type ${r.type}, expected ${want.kind === 'L' ? 1 : 2}`,
        );
        p.check(r.purse === p.purse, `${what}: purse ${r.purse}`);
        p.check(r.amount === want.t.amount, `${what}: amount ${r.amount}, expected ${want.t.amount}`);
        p.check(
          r.balanceAfter === want.after,
          `${what}: balance after ${r.balanceAfter}, expected ${want.after}`,
        );
        p.check(r.counter === want.t.counter, `${what}: counter ${r.counter}, expected ${want.t.counter}`);
        p.check(
          toHex(r.terminalId) === toHex(want.t.terminalId),
          `${what}: terminal id ${toHex(r.terminalId)}`,
        );
        p.check(toHex(r.dateTime) === toHex(want.t.dateTime), `${what}: date-time ${toHex(r.dateTime)}`);
        p.check(toHex(r.rv) === toHex(want.rv), `${what}: RV ${toHex(r.rv)}, expected ${toHex(want.rv)}`);
        p.check(
          verifyMac(p.crypto.mac(k.proof, recordInput(want.kind, want.t, want.after, want.rv)), r.mac),
          `${what}: the MAC under K_proof is wrong`,
        );
      }
    },
  },
  {
    id: 'log.refusals',
    title: 'READ RECORD: n = 0 or P2 b3-b1 not 100 is 6A86, past the log is 6A83, another SFI is 6A82',
    section: '§3.8',
    async run(p) {
      await p.select();
      await p.expectSw(cmd('00B2000C00'), 0x6a86, 'READ RECORD n=0');
      await p.expectSw(cmd('00B2010D00'), 0x6a86, 'READ RECORD P2=0D');
      await p.expectSw(A.readLogRecord(LOG_RECORDS + 1), 0x6a83, `READ RECORD ${LOG_RECORDS + 1} of the log`);
      await p.expectSw(cmd(`00B201${hex1(sfiP2(5))}00`), 0x6a82, 'READ RECORD of SFI 05'); // 03, 04: issue 17
    },
  },
  {
    id: 'debit.replay',
    title:
      'a recorded DEBIT sent again in a new session is refused (the counter moved, the session key died)',
    section: '§3.6 §6',
    leaves: 'nothing (a faulty card that debits is credited back)',
    async run(p, s) {
      if (!s.lastDebit) throw new CaseSkipped('needs the LOAD/DEBIT round trip');
      const replay = s.lastDebit;
      await unchanged(p, 'the replayed DEBIT', async () => {
        await p.authenticate();
        const r = await p.send(replay);
        if (r.sw === 0x9000) throw new CaseFailure('the replayed DEBIT was accepted');
        p.check(r.sw === 0x6300, `the replayed DEBIT answered ${swText(r.sw)}, the specification says 6300`);
      });
    },
  },
  {
    id: 'debit.refusals',
    title: 'DEBIT: amount 0 / a date-time not BCD is 6A80, above the limit 9403, above the balance 9401',
    section: '§3.6 §1',
    leaves: 'nothing',
    async run(p) {
      const notes: string[] = [];
      await unchanged(p, 'the refused DEBITs', async () => {
        const session = await p.authenticate();
        const st = await p.readPurse();
        const rv = p.rng.bytes(8);
        const at = (amount: number, dt?: Uint8Array) =>
          p.debitCommand(session, p.tx(amount, st.counter + 1, dt), rv);
        await p.expectSw(at(0), 0x6a80, 'DEBIT of amount 0');
        await p.expectSw(at(1, fromHex('261322083000')), 0x6a80, 'DEBIT with month 13');
        if (st.limit < 0xffffffff)
          await p.expectSw(at(st.limit + 1), 0x9403, `DEBIT of ${st.limit + 1} (limit + 1)`);
        else notes.push('limit is FFFFFFFF: no amount above it');
        if (st.balance + 1 <= st.limit)
          await p.expectSw(at(st.balance + 1), 0x9401, `DEBIT of ${st.balance + 1} (balance + 1)`);
        else notes.push('balance ≥ limit: 9401 cannot be reached without 9403');
      });
      return notes.join('; ') || undefined;
    },
  },
  {
    id: 'debit.other-purse',
    title: 'a session for one purse cannot DEBIT another purse (6982)',
    section: '§3.4 §3.6',
    leaves: 'nothing',
    async run(p, s) {
      const other = p.purses.find((x) => x !== p.purse);
      if (other === undefined) throw new CaseSkipped('the card has one purse');
      await p.select();
      const before = PurseState.decode(await p.ok(A.readPurse(other), `READ PURSE ${other}`));
      const session = await p.authenticate();
      await p.expectSw(
        p.debitCommand(session, p.tx(s.amount, before.counter + 1, undefined, other), p.rng.bytes(8)),
        0x6982,
        `DEBIT of purse ${other} in a session for purse ${p.purse}`,
      );
      const after = PurseState.decode(await p.ok(A.readPurse(other), `READ PURSE ${other}`));
      p.check(after.balance === before.balance && after.counter === before.counter, `purse ${other} changed`);
    },
  },
  {
    id: 'load.refusals',
    title:
      'LOAD: no challenge 6985, a cryptogram for another challenge 6300, above the maximum 9402, amount 0 6A80, Lc not 22 6700',
    section: '§3.7',
    leaves: 'nothing',
    async run(p, s) {
      const notes: string[] = [];
      await unchanged(p, 'the refused LOADs', async () => {
        const st = await p.readPurse();
        const t = p.tx(s.amount, st.counter + 1);
        await p.expectSw(p.loadCommand(new Uint8Array(8), t).cmd, 0x6985, 'LOAD without GET CHALLENGE');
        const rc1 = await p.challenge();
        await p.challenge();
        await p.expectSw(
          p.loadCommand(rc1, t).cmd,
          0x6300,
          'LOAD with the cryptogram of the previous challenge',
        );
        const over = st.max - st.balance + 1;
        if (over <= 0xffffffff) {
          const rc = await p.challenge();
          await p.expectSw(
            p.loadCommand(rc, p.tx(over, st.counter + 1)).cmd,
            0x9402,
            `LOAD of ${over} (max - balance + 1)`,
          );
        } else notes.push('maximum - balance + 1 does not fit 4 bytes');
        const rc0 = await p.challenge();
        await p.expectSw(p.loadCommand(rc0, p.tx(0, st.counter + 1)).cmd, 0x6a80, 'LOAD of amount 0');
        await p.challenge();
        await p.expectSw(cmd(`805200${hex1(p.purse)}15${'00'.repeat(21)}00`), 0x6700, 'LOAD Lc=21');
      });
      return notes.join('; ') || undefined;
    },
  },
  {
    id: 'meter-data.read',
    title: 'READ RECORD of the meter data: one 72-byte record per purse, 6A83 past the last',
    section: '§3.1 §3.8',
    async run(p) {
      await p.select();
      for (let n = 1; n <= p.purses.length; n++) {
        const d = await p.ok(A.readMeterData(n), `READ RECORD ${n} of the meter data`);
        p.check(d.length === 72, `meter-data record ${n} is ${d.length} bytes, not 72`);
      }
      await p.expectSw(
        A.readMeterData(p.purses.length + 1),
        0x6a83,
        `READ RECORD ${p.purses.length + 1} of the meter data`,
      );
    },
  },
  {
    id: 'meter-data.update',
    title:
      "UPDATE RECORD of the meter data: 6982 without a session or for another purse's record, 6700 Lc not 72, 6A83 no record, 9000 in a session",
    section: '§3.9',
    leaves: "the purse's meter-data record rewritten with its own bytes",
    async run(p) {
      await p.select();
      const n = p.purses.indexOf(p.purse) + 1;
      const md = await p.ok(A.readMeterData(n), 'READ RECORD meter data');
      await p.expectSw(A.updateMeterData(n, md), 0x6982, 'UPDATE RECORD without a session');
      await p.authenticate();
      await p.expectSw(A.updateMeterData(n, md.subarray(0, 10)), 0x6700, 'UPDATE RECORD Lc=10');
      await p.expectSw(
        A.updateMeterData(p.purses.length + 1, md),
        0x6a83,
        `UPDATE RECORD ${p.purses.length + 1}`,
      );
      if (p.purses.length > 1) {
        const other = n === 1 ? 2 : 1;
        const theirs = await p.ok(A.readMeterData(other), `READ RECORD ${other} of the meter data`);
        await p.expectSw(
          A.updateMeterData(other, theirs),
          0x6982,
          `UPDATE RECORD ${other} (another purse's)`,
        );
      }
      await p.ok(A.updateMeterData(n, md), 'UPDATE RECORD in the session');
      const back = await p.ok(A.readMeterData(n), 'READ RECORD meter data');
      p.check(toHex(back) === toHex(md), 'the record read back is not what was written');
    },
  },
  {
    id: 'pin',
    title: 'VERIFY / CHANGE REFERENCE DATA: 6A88 without a PIN; with one, 63Cx tries and 9000 when right',
    section: '§3.10 §3.1',
    leaves: 'the PIN as it was, its try counter full again',
    async run(p, s) {
      await p.select();
      const ask = await p.send(A.verifyPin());
      if (ask.sw === 0x6a88) {
        await p.expectSw(A.verifyPin(pinBlockOf('1234')), 0x6a88, 'VERIFY on a card without a PIN');
        await p.expectSw(
          A.changePin(pinBlockOf('1234'), pinBlockOf('5678')),
          0x6a88,
          'CHANGE REFERENCE DATA without a PIN',
        );
        await p.expectSw(cmd('00200002'), 0x6a86, 'VERIFY P2=02');
        return 'the card has no PIN';
      }
      if (!s.o.pin) throw new CaseSkipped('the card has a PIN: give it to the run (--pin) to test it');
      const pin = pinBlockOf(s.o.pin);
      p.check(
        (ask.sw & 0xfff0) === 0x63c0 || ask.sw === 0x9000,
        `VERIFY without data answered ${swText(ask.sw)}`,
      );
      await p.ok(A.verifyPin(pin), 'VERIFY with the right PIN');
      await p.ok(A.verifyPin(), 'VERIFY without data after a right PIN');
      const wrong = pinBlockOf(s.o.pin === '0000' ? '1111' : '0000');
      const r = await p.send(A.verifyPin(wrong));
      p.check(r.sw === 0x63c2, `a wrong PIN with 3 tries left answered ${swText(r.sw)}, not 63C2`);
      await p.ok(A.changePin(pin, pin), 'CHANGE REFERENCE DATA to the same PIN');
      await p.ok(A.verifyPin(pin), 'VERIFY after the change');
      await p.expectSw(
        A.changePin(pin, fromHex('3132FFFFFFFFFFFF')),
        0x6a80,
        'CHANGE REFERENCE DATA to a 2-digit PIN',
      );
    },
  },
  {
    id: 'recovery.pull',
    title:
      'card pulled (reset) between commands: the challenge and the session are gone, a completed DEBIT or LOAD stays exactly once with its log record',
    section: '§3.1 §6',
    leaves: 'balance as before; counter +2; two log records',
    async run(p, s) {
      await p.select();
      const st = await p.readPurse();
      const a = s.amount;
      // A challenge does not survive the pull.
      const rc = await p.challenge();
      await p.reset();
      await p.select();
      await p.expectSw(
        p.loadCommand(rc, p.tx(a, st.counter + 1)).cmd,
        0x6985,
        'LOAD after the pull for the old challenge',
      );
      // Nor does a session.
      const session = await p.authenticate();
      await p.reset();
      await p.select();
      await p.expectSw(
        p.debitCommand(session, p.tx(a, st.counter + 1), p.rng.bytes(8)),
        0x6982,
        'DEBIT after the pull in the old session',
      );
      const k = p.k();
      const after = async (
        kind: 'L' | 'D',
        x: { balance: number; counter: number; t: ReturnType<CardProbe['tx']> },
        rv: Uint8Array,
      ) => {
        await p.reset();
        await p.select();
        const now = await p.readPurse();
        p.check(
          now.balance === x.balance && now.counter === x.counter,
          `after the pull the purse is ${now.balance}/${now.counter}, the card had answered ${x.balance}/${x.counter}`,
        );
        const rec = LogRecord.decode(
          await p.ok(A.readLogRecord(1), 'READ RECORD 1 of the log after the pull'),
        );
        p.check(
          rec.counter === x.counter && rec.type === (kind === 'L' ? 1 : 2),
          'the newest log record is not the transaction made before the pull',
        );
        p.check(
          verifyMac(p.crypto.mac(k.proof, recordInput(kind, x.t, x.balance, rv)), rec.mac),
          'its MAC under K_proof is wrong',
        );
        const srv = p.rng.bytes(8);
        const signed = await p.ok(A.readPurse(p.purse, srv), 'signed READ PURSE after the pull');
        p.check(
          verifyMac(
            p.crypto.mac(k.proof, statusInput(p.csn, p.purse, now.balance, now.counter, srv)),
            signed.subarray(17),
          ),
          'the signed status after the pull is wrong',
        );
      };
      if (st.balance + a <= st.max) {
        const l = await p.load(a);
        await after('L', l, l.rc);
        const d = await p.debit(a);
        await after('D', d, d.rv);
      } else {
        const d = await p.debit(a);
        await after('D', d, d.rv);
        const l = await p.load(a);
        await after('L', l, l.rc);
      }
    },
  },
  {
    id: 'iso.class',
    title: 'CLA with logical-channel bits is 6881; an ISO instruction under CLA 80 is refused (6D00/6E00)',
    section: '§1 §9',
    async run(p) {
      await p.select();
      await p.expectSw(cmd('0184000008'), 0x6881, 'GET CHALLENGE under CLA 01');
      const r = await p.send(cmd('8084000008'));
      p.check(r.sw === 0x6d00 || r.sw === 0x6e00, `GET CHALLENGE under CLA 80 answered ${swText(r.sw)}`);
    },
  },
  {
    id: 'iso.instruction',
    title: 'an instruction the card does not have is 6D00',
    section: '§9',
    async run(p) {
      await p.select();
      await p.expectSw(cmd('80FE000000'), 0x6d00, 'INS FE');
      await p.expectSw(cmd('00FE000000'), 0x6d00, 'INS FE under CLA 00');
    },
  },
];

function hex1(n: number): string {
  return n.toString(16).padStart(2, '0').toUpperCase();
}

function findIn(fci: Uint8Array, tag: number): Uint8Array | undefined {
  try {
    return findTlv(fci, tag);
  } catch {
    return undefined;
  }
}

function pinBlockOf(pin: string): Uint8Array {
  const b = new Uint8Array(8).fill(0xff);
  for (let i = 0; i < pin.length && i < 8; i++) b[i] = pin.charCodeAt(i);
  return b;
}

export { NOW as CONFORMANCE_DATE_TIME, TERMINAL as CONFORMANCE_TERMINAL_ID, bcdDateTime };

/** The ids and titles of the card suite, in run order (docs/conformance.md lists them). */
export function cardCases(): { id: string; title: string; section: string; leaves: string }[] {
  return CASES.map((c) => ({ id: c.id, title: c.title, section: c.section, leaves: c.leaves ?? 'nothing' }));
}

/**
 * Runs the card suite against the card behind `channel`.
 * @returns every case's result; never throws for what the card does (a channel error ends the
 *   run: the remaining cases are reported as errors).
 */
export async function runCardSuite(channel: CardChannel, o: CardRunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const p = new CardProbe(channel, o.cipher, o.rng ?? new SystemRng(), TERMINAL, NOW);
  const s: SuiteState = { o, amount: o.amount ?? 1 };
  const results: CaseResult[] = [];
  let before: PurseState | undefined;
  let dead: string | undefined;
  for (const c of CASES) {
    if (o.only && c.id !== 'select.fci' && !o.only.some((x) => c.id.startsWith(x))) continue;
    const start = performance.now();
    p.log = [];
    let status: CaseStatus = 'pass';
    let message: string | undefined;
    if (dead) {
      status = 'error';
      message = dead;
    } else {
      try {
        const note = await c.run(p, s);
        if (note) message = note;
      } catch (e) {
        if (e instanceof CaseSkipped) {
          status = 'skip';
          message = e.message;
        } else if (e instanceof CaseFailure) {
          status = c.advisory ? 'warn' : 'fail';
          message = c.advisory ? `${e.message} (advisory: ${c.advisory})` : e.message;
        } else {
          status = 'error';
          message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          if (e instanceof CardChannelError) dead = `not run: the channel failed in ${c.id} (${message})`;
        }
      }
      if (c.id === 'select.fci') {
        if (status !== 'pass') dead = `not run: SELECT failed (${message})`;
        else
          try {
            before = await p.readPurse();
          } catch (e) {
            dead = `not run: READ PURSE failed (${(e as Error).message})`;
          }
      }
    }
    const r: CaseResult = {
      id: c.id,
      title: c.title,
      section: c.section,
      status,
      ...(message !== undefined ? { message } : {}),
      leaves: c.leaves ?? 'nothing',
      exchanges: p.log,
      ms: performance.now() - start,
    };
    results.push(r);
    o.onCase?.(r);
  }
  let after: PurseState | undefined;
  if (!dead)
    try {
      await p.select();
      after = await p.readPurse();
    } catch {
      after = undefined;
    }
  return {
    suite: 'purse-spec card conformance',
    target: `${channel.readerName} (${channel.protocol})`,
    keys: o.keys.describe,
    ...(p.csn.some((b) => b !== 0) ? { csn: toHex(p.csn) } : {}),
    purse: p.purse,
    cases: results,
    ms: performance.now() - t0,
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
  };
}
