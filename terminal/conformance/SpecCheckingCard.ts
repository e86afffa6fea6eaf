/**
 * A subscriber card that checks every APDU a terminal under test sends against
 * docs/purse-spec.md §3 and answers as the card inside it would (`conformance terminal`).
 *
 * ```
 *  terminal under test --PC/SC--> pcscd --vpcd--> VpcdBridge --> SpecCheckingCard --> the card
 *                                                                 |  deviations[]
 * ```
 * What it checks, per command: the class byte (00 ISO, 80 proprietary, no channel bits), P1-P2,
 * Lc, Le (a present Le other than the spec's; an absent one is tolerated, as a T=0 reader drops it
 * from case-4 commands), the order (the purse application SELECTed first; GET CHALLENGE right
 * before MUTUAL AUTHENTICATE and LOAD; MUTUAL AUTHENTICATE for that purse before DEBIT and UPDATE
 * RECORD; nothing of a session kept across a reset), the SAM's cryptogram S_sam against the
 * card's own challenge (with the keys it is given), the DEBIT MAC (the card's 6300), and a DEBIT
 * MAC sent twice (a replay). Deviations never change the answer: the terminal sees the card.
 */
import { CommandApdu, MalformedDataError, PurseCrypto, toHex, verifyMac } from '../../card/index.js';
import type { BlockCipherProvider, CardOs } from '../../card/index.js';
import { AID_PURSE, findTlv } from '../../card/index.js';
import { samCryptogram } from './CardProbe.js';
import type { ConformanceKeys } from './ConformanceKeys.js';

/** One way the terminal departed from the specification. */
export interface Deviation {
  /** 1-based number of the APDU in the session (0: a power or reset event). */
  readonly apdu: number;
  /** Short stable name, e.g. "order.debit-before-auth", "le.read-purse". */
  readonly rule: string;
  readonly section: string;
  readonly message: string;
  /** The command, hex. */
  readonly command: string;
}

const NAMES: Record<number, string> = {
  0xa4: 'SELECT',
  0x84: 'GET CHALLENGE',
  0x82: 'MUTUAL AUTHENTICATE',
  0xb2: 'READ RECORD',
  0xdc: 'UPDATE RECORD',
  0x20: 'VERIFY',
  0x24: 'CHANGE REFERENCE DATA',
  0xc0: 'GET RESPONSE',
  0x5c: 'READ PURSE',
  0x54: 'DEBIT',
  0x52: 'LOAD',
};
const ISO_INS = new Set([0xa4, 0x84, 0x82, 0xb2, 0xdc, 0x20, 0x24, 0xc0]);
const PROPRIETARY_INS = new Set([0x5c, 0x54, 0x52]);

export class SpecCheckingCard implements CardOs {
  readonly deviations: Deviation[] = [];
  /** Every command seen, for the report. */
  apdus = 0;
  #selected = false;
  #rc: Uint8Array | undefined;
  #session: number | undefined;
  #csn: Uint8Array | undefined;
  #purses: number[] = [];
  readonly #macs = new Map<string, number>();
  readonly #crypto: PurseCrypto;

  constructor(
    readonly inner: CardOs,
    readonly keys: ConformanceKeys | undefined,
    cipher: BlockCipherProvider,
  ) {
    this.#crypto = new PurseCrypto(cipher);
  }

  get atr(): Uint8Array {
    return this.inner.atr;
  }
  get powered(): boolean {
    return this.inner.powered;
  }

  #volatileLost(): void {
    this.#selected = false;
    this.#rc = undefined;
    this.#session = undefined;
  }

  powerUp(): Uint8Array {
    this.#volatileLost();
    return this.inner.powerUp();
  }
  reset(): Uint8Array {
    this.#volatileLost();
    return this.inner.reset();
  }
  powerDown(): void {
    this.#volatileLost();
    this.inner.powerDown();
  }

  #dev(cmd: Uint8Array, rule: string, section: string, message: string): void {
    this.deviations.push({ apdu: this.apdus, rule, section, message, command: toHex(cmd) });
  }

  transmit(command: Uint8Array): Uint8Array {
    this.apdus++;
    let c: CommandApdu | undefined;
    try {
      c = CommandApdu.decode(command);
    } catch (e) {
      const why = e instanceof MalformedDataError ? e.message : String(e);
      this.#dev(command, 'apdu.malformed', 'ISO/IEC 7816-4 §5.1', `not a well-formed command APDU: ${why}`);
    }
    const before = c ? this.#check(command, c) : undefined;
    const response = this.inner.transmit(command);
    if (c) this.#observe(command, c, response, before);
    return response;
  }

  /** The checks made before the card answers; returns what the observation needs. */
  #check(raw: Uint8Array, c: CommandApdu): { rc?: Uint8Array } {
    const name = NAMES[c.ins] ?? `INS ${toHex(Uint8Array.of(c.ins))}`;
    const dev = (rule: string, section: string, msg: string) =>
      this.#dev(raw, rule, section, `${name}: ${msg}`);
    const le = (want: number, rule: string, section: string) => {
      if (c.ne !== undefined && c.ne !== want)
        dev(
          rule,
          section,
          `Le = ${c.ne === 256 ? '00' : toHex(Uint8Array.of(c.ne & 0xff))}, the spec says ${want === 256 ? '00' : toHex(Uint8Array.of(want))}`,
        );
    };
    const noLe = (rule: string, section: string) => {
      if (c.ne !== undefined) dev(rule, section, 'a command without response data sent with Le');
    };
    const lc = (want: number | number[], section: string) => {
      const ok = Array.isArray(want) ? want.includes(c.nc) : c.nc === want;
      if (!ok)
        dev('lc', section, `Lc = ${c.nc}, the spec says ${Array.isArray(want) ? want.join(' or ') : want}`);
    };
    const p1p2 = (ok: boolean, section: string, want: string) => {
      if (!ok) dev('p1p2', section, `P1-P2 = ${toHex(Uint8Array.of(c.p1, c.p2))}, the spec says ${want}`);
    };
    if (c.cla & 0x03)
      dev(
        'cla.channel',
        '§1',
        `CLA ${toHex(Uint8Array.of(c.cla))} names a logical channel; the card has none`,
      );
    const baseCla = c.cla & 0xfc;
    if (ISO_INS.has(c.ins) && baseCla !== 0x00)
      dev('cla', '§1', `CLA ${toHex(Uint8Array.of(c.cla))}: inter-industry commands are CLA 00`);
    else if (PROPRIETARY_INS.has(c.ins) && baseCla !== 0x80)
      dev('cla', '§1', `CLA ${toHex(Uint8Array.of(c.cla))}: the purse's own commands are CLA 80`);
    else if (!ISO_INS.has(c.ins) && !PROPRIETARY_INS.has(c.ins))
      dev('ins', '§9', 'not a command of the subscriber card');
    if (c.ins !== 0xa4 && c.ins !== 0xc0 && !this.#selected)
      dev('order.select-first', '§3.2', 'sent before the purse application was SELECTed');
    const purseKnown = (p: number) => this.#purses.length === 0 || this.#purses.includes(p);
    const rc = this.#rc;
    switch (c.ins) {
      case 0xa4:
        p1p2(c.p1 === 0x04 && (c.p2 === 0x00 || c.p2 === 0x0c), '§3.2', '04 00 or 04 0C');
        if (c.p2 === 0x00) le(256, 'le', '§3.2');
        break;
      case 0x84:
        p1p2(c.p1 === 0 && c.p2 === 0, '§3.3', '00 00');
        lc(0, '§3.3');
        if (c.ne !== undefined && c.ne !== 8 && c.ne !== 256)
          dev('le', '§3.3', `Le = ${c.ne}, the spec says 08`);
        break;
      case 0x82:
        p1p2(c.p1 === 0 && c.p2 !== 0, '§3.4', '00 and the purse id');
        lc(16, '§3.4');
        le(8, 'le', '§3.4');
        if (!rc) dev('order.challenge-first', '§3.4', 'no GET CHALLENGE right before it');
        if (!purseKnown(c.p2)) dev('purse', '§3.4', `purse ${c.p2} is not on the card`);
        break;
      case 0x5c:
        p1p2(c.p1 === 0, '§3.5', '00 and the purse id');
        lc([0, 8], '§3.5');
        le(256, 'le', '§3.5');
        if (!purseKnown(c.p2)) dev('purse', '§3.5', `purse ${c.p2} is not on the card`);
        break;
      case 0x54: {
        p1p2(c.p1 === 0, '§3.6', '00 and the purse id');
        lc(30, '§3.6');
        le(256, 'le', '§3.6');
        if (this.#session === undefined)
          dev('order.debit-before-auth', '§3.6', 'no MUTUAL AUTHENTICATE in this card session');
        else if (this.#session !== c.p2)
          dev('order.debit-other-purse', '§3.6', `the session is for purse ${this.#session}, not ${c.p2}`);
        if (c.nc === 30) {
          const mac = toHex(c.data.subarray(22, 30));
          const seen = this.#macs.get(mac);
          if (seen !== undefined)
            dev('mac.replayed', '§3.6 §6', `the DEBIT MAC was already sent in APDU ${seen}: a replay`);
          else this.#macs.set(mac, this.apdus);
        }
        break;
      }
      case 0x52:
        p1p2(c.p1 === 0, '§3.7', '00 and the purse id');
        lc(22, '§3.7');
        le(256, 'le', '§3.7');
        if (!rc) dev('order.challenge-first', '§3.7', 'no GET CHALLENGE right before it');
        break;
      case 0xb2:
        p1p2(c.p1 !== 0 && (c.p2 === 0x0c || c.p2 === 0x14), '§3.8', 'n ≥ 1 and 0C (log) or 14 (meter data)');
        lc(0, '§3.8');
        le(256, 'le', '§3.8');
        break;
      case 0xdc:
        p1p2(c.p1 !== 0 && c.p2 === 0x14, '§3.9', 'n ≥ 1 and 14');
        lc(72, '§3.9');
        noLe('le', '§3.9');
        if (this.#session === undefined)
          dev('order.update-before-auth', '§3.9', 'no MUTUAL AUTHENTICATE in this card session');
        else if (this.#purses.length && this.#purses[c.p1 - 1] !== this.#session)
          dev(
            'order.update-other-purse',
            '§3.9',
            `record ${c.p1} is not the session's purse ${this.#session}`,
          );
        break;
      case 0x20:
        p1p2(c.p1 === 0 && c.p2 === 1, '§3.10', '00 01');
        lc([0, 8], '§3.10');
        noLe('le', '§3.10');
        break;
      case 0x24:
        p1p2(c.p1 === 0 && c.p2 === 1, '§3.10', '00 01');
        lc(16, '§3.10');
        noLe('le', '§3.10');
        break;
    }
    // S_sam: checked here with the keys given, against the challenge the card really gave.
    if (c.ins === 0x82 && rc && c.nc === 16 && this.#csn && this.keys) {
      const k = this.#keysFor(c.p2);
      if (k) {
        const d = c.data;
        const sk = this.#crypto.sessionKey(k.auth, rc, d.subarray(0, 8));
        if (
          !verifyMac(this.#crypto.mac(sk, samCryptogram(rc, d.subarray(0, 8), this.#csn)), d.subarray(8, 16))
        )
          dev('mac.s-sam', '§3.4', "S_sam is not MAC(SK_auth, RC ‖ RS ‖ CSN) for the card's challenge");
      }
    }
    return rc ? { rc } : {};
  }

  #keysFor(purse: number) {
    try {
      return this.keys?.keysFor(this.#csn!, purse);
    } catch {
      return undefined;
    }
  }

  /** Follows the card's volatile state from its answers. */
  #observe(raw: Uint8Array, c: CommandApdu, response: Uint8Array, _before?: { rc?: Uint8Array }): void {
    const sw = ((response[response.length - 2] ?? 0) << 8) | (response[response.length - 1] ?? 0);
    const data = response.subarray(0, response.length - 2);
    const ok = sw === 0x9000;
    // RC is single-use: MUTUAL AUTHENTICATE and LOAD take it whatever their outcome, any other
    // command leaves it (the spec: "GET CHALLENGE just before" is checked as "still outstanding").
    switch (c.ins) {
      case 0xa4:
        if (ok && c.p1 === 4 && equalsAid(c.data)) {
          this.#selected = true;
          this.#rc = undefined;
          this.#session = undefined;
          if (data.length) {
            const csn = findTlvSafe(data, 0x5a);
            const purses = findTlvSafe(data, 0xc2);
            if (csn) this.#csn = csn.slice();
            if (purses) this.#purses = [...purses];
          }
        } else if (c.p1 === 4) this.#selected = false;
        break;
      case 0x84:
        if (ok) this.#rc = data.slice();
        break;
      case 0x82:
        this.#rc = undefined;
        this.#session = ok ? c.p2 : undefined;
        break;
      case 0x52:
        this.#rc = undefined;
        break;
      case 0x54:
        if (sw === 0x6300) {
          this.#dev(
            raw,
            'mac.debit',
            '§3.6',
            'DEBIT: the card refused the MAC (6300): not MAC(SK_debit, …) over counter + 1',
          );
          this.#session = undefined;
        }
        break;
      case 0x5c:
        if (ok && c.nc === 8) this.#session = undefined;
        break;
    }
    if (c.ins === 0x52 && sw === 0x6300)
      this.#dev(raw, 'mac.load', '§3.7', 'LOAD: the card refused the cryptogram (6300)');
  }
}

function equalsAid(d: Uint8Array): boolean {
  return toHex(d) === toHex(AID_PURSE);
}

function findTlvSafe(b: Uint8Array, tag: number): Uint8Array | undefined {
  try {
    return findTlv(b, tag);
  } catch {
    return undefined;
  }
}

/** The deviations as report lines. */
export function deviationLines(d: readonly Deviation[]): string[] {
  return d.map((x) => `APDU ${x.apdu}  ${x.section}  ${x.rule}: ${x.message}   > ${x.command}`);
}

/** The rules the checker applies, one JUnit test case each. */
export const TERMINAL_RULES: readonly { rule: string; section: string; title: string }[] = [
  { rule: 'apdu.malformed', section: 'ISO/IEC 7816-4 §5.1', title: 'every command is a well-formed APDU' },
  { rule: 'cla', section: '§1', title: 'CLA 00 for inter-industry commands, 80 for the purse commands' },
  { rule: 'cla.channel', section: '§1', title: 'no logical channel bits in CLA' },
  { rule: 'ins', section: '§9', title: 'only the instructions of the subscriber card' },
  { rule: 'p1p2', section: '§3', title: 'P1-P2 as the specification gives them' },
  { rule: 'lc', section: '§3', title: 'Lc as the specification gives it' },
  {
    rule: 'le',
    section: '§1 §3',
    title: 'Le = 00 for response data (08 for GET CHALLENGE and MUTUAL AUTHENTICATE), none otherwise',
  },
  { rule: 'purse', section: '§3.4 §3.5', title: 'only purses the FCI lists' },
  { rule: 'order.select-first', section: '§3.2', title: 'the purse application is SELECTed first' },
  {
    rule: 'order.challenge-first',
    section: '§3.4 §3.7',
    title: 'GET CHALLENGE right before MUTUAL AUTHENTICATE and LOAD',
  },
  { rule: 'order.debit-before-auth', section: '§3.6', title: 'MUTUAL AUTHENTICATE before DEBIT' },
  { rule: 'order.debit-other-purse', section: '§3.6', title: "DEBIT of the session's purse only" },
  { rule: 'order.update-before-auth', section: '§3.9', title: 'MUTUAL AUTHENTICATE before UPDATE RECORD' },
  {
    rule: 'order.update-other-purse',
    section: '§3.9',
    title: "UPDATE RECORD of the session's purse record only",
  },
  { rule: 'mac.s-sam', section: '§3.4', title: "S_sam over the card's own challenge" },
  { rule: 'mac.debit', section: '§3.6', title: 'DEBIT MAC right (the card does not answer 6300)' },
  { rule: 'mac.load', section: '§3.7', title: 'LOAD cryptogram right (the card does not answer 6300)' },
  { rule: 'mac.replayed', section: '§3.6 §6', title: 'no DEBIT MAC sent twice' },
];

/** The checker's findings as a suite report: one case per rule, failed by its deviations. */
export function terminalReport(
  card: SpecCheckingCard,
  target: string,
  ms: number,
): import('./report.js').SuiteReport {
  const cases = TERMINAL_RULES.map((r) => {
    const mine = card.deviations.filter((d) => d.rule === r.rule);
    return {
      id: r.rule,
      title: r.title,
      section: r.section,
      status: mine.length ? ('fail' as const) : ('pass' as const),
      ...(mine.length
        ? {
            message: `${mine.length} deviation${mine.length > 1 ? 's' : ''}: ${mine[0]!.message} (APDU ${mine[0]!.apdu})`,
          }
        : {}),
      leaves: 'nothing',
      exchanges: deviationLines(mine),
      ms: 0,
    };
  });
  return {
    suite: 'purse-spec terminal conformance',
    target,
    cases,
    ms,
    facts: [`APDUs checked: ${card.apdus}`],
  };
}
