/**
 * The audit log of batch issuance: an append-only file of JSON lines, one per card issued (or
 * found issued on a resume), next to the journal. Who (`--operator`, else the OS user), when (ISO
 * time), what (CSV line, subscriber, CSN, ICSN), under which keys — the key versions and KCVs of
 * the masters the MKC derived the card's keys from (its GET DATA: never a key) — and the MKC's
 * serial and issue counter after the card.
 *
 * ```json
 * {"at":"2026-12-05T02:30:00.000Z","operator":"alice","event":"issued","line":2,"subscriber":17,
 *  "csn":"4D50000000000001","icsn":"…","kind":"subscriber","mkcSerial":"…","mkcIssueCounter":42,
 *  "keys":[{"slot":"01","name":"MK_tr[1]","version":1,"kcv":"A1B2C3"},…]}
 * ```
 * Events: `issued` (the MKC personalised a chip for the CSN and counted it; written before the
 * card is made durable), `recovered` (a restart found the card personalised — file written or
 * chip at LCS 05 — whose journal entry a kill had cut short), `registered` (the host holds it; a
 * kill right after may repeat this line, never the registration). Each line is written with
 * O_APPEND and fsync'd before the journal moves on. Two `issued` lines for one CSN, or a gap in
 * `mkcIssueCounter`, are personalisations the MKC counted whose card a kill discarded; the card
 * is the last `issued` line's ICSN (see BatchIssuer.ts).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export interface AuditKey {
  slot: string;
  name: string;
  version: number;
  kcv: string;
}

export interface AuditEntry {
  event: 'issued' | 'recovered' | 'registered';
  line: number;
  subscriber: number;
  csn: string;
  icsn?: string;
  kind?: string;
  mkcSerial?: string;
  mkcIssueCounter?: number;
  keys?: readonly AuditKey[];
  host?: string;
}

export class AuditLog {
  constructor(
    readonly path: string,
    readonly operator: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Appends one line and fsyncs it. @throws the Node.js error when the file cannot be written. */
  append(entry: AuditEntry): void {
    const line = `${JSON.stringify({ at: this.now().toISOString(), operator: this.operator, ...entry })}\n`;
    const fd = openSync(this.path, 'a', 0o600);
    try {
      const b = Buffer.from(line, 'utf8');
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
