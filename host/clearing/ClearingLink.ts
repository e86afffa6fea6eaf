/**
 * What clearing needs from the power line, as a port: one upload page, one settlement, one
 * blacklist. `hostProtocolLink` (./hostProtocolLink.ts) implements it over the host's
 * {@link HostProtocol} sessions (authenticated, S2h / Ks); tests implement it with a simulated SVM.
 */
import type { MeterUpload } from './records.js';

/** Where an upload starts (and the next one will). */
export interface UploadCursor {
  /** The meter's journal sequence number (card records it saw, blacklist attempts). */
  readonly journal: number;
  /** The SVM counter of the first SVM log record wanted. */
  readonly svm: number;
}

/** One upload page and where the next starts. */
export interface UploadPage {
  readonly upload: MeterUpload;
  readonly next: UploadCursor;
  /** The meter holds more past this page. */
  readonly more: boolean;
  /** The blacklist version the meter holds, when it says. */
  readonly blacklistVersion?: number;
}

/** A host settlement of one pending transfer (docs/purse-spec.md §5.8 settle payload). */
export interface SettleRequest {
  readonly decision: 'complete' | 'cancel';
  readonly slot: number;
  readonly csn: Uint8Array;
  readonly purse: number;
  readonly counter: number;
  readonly amount: number;
  /** Host transaction id, from the credits' sequence (each applied once in the SVM's life). */
  readonly txId: number;
}

/** The SVM's answer to a settlement, as far as it is definite. */
export interface SettleAnswer {
  readonly status: 'settled-complete' | 'settled-cancel' | 'no-such-pending' | 'duplicate';
  /**
   * The SVM log record the answer carried (29 bytes; all zeros or absent when none): for
   * no-such-pending, how the transfer ended (card credit 01, card cancel 04, host settle 05/06).
   */
  readonly logRecord?: Uint8Array;
  /** The SVM's signed answer as it came, kept as evidence. */
  readonly raw?: Uint8Array;
}

export interface ClearingLink {
  /**
   * One upload page from `from`.
   * @throws on a link, session or parse failure (nothing is stored then).
   */
  upload(meterId: string, from: UploadCursor): Promise<UploadPage>;
  /**
   * Sends one settlement and returns the SVM's definite answer.
   * @throws when no definite answer came (lost frame, refusal): the host retries the same request.
   */
  settle(meterId: string, request: SettleRequest): Promise<SettleAnswer>;
  /**
   * Sends the blacklist; resolves to the version the meter holds afterwards.
   * @throws on a link or session failure.
   */
  sendBlacklist(
    meterId: string,
    list: { readonly version: number; readonly serials: readonly Uint8Array[] },
  ): Promise<{ readonly version: number; readonly status: string }>;
}
