/**
 * The {@link ClearingLink} over the power line: each call is one authenticated host session of
 * docs/host-protocol.md "Clearing" through {@link HostProtocol} — `uploadRecords` (H = 55),
 * `settle` (H = 54, the SVM's HOST SETTLE answer decrypted from M under Ks), `sendBlacklist`
 * (H = 56, a full list). Every answer already passed the session's checks (S1t, Ks, ID' = ID) and
 * the protocol's parsers; this file only maps the wire shapes to clearing's.
 */
import { SETTLE_CANCEL, SETTLE_COMPLETE, SettlePayload } from '../../card/index.js';
import { be32, concatBytes } from '../../card/index.js';
import { BL_STATUS_NAMES, encodeTxId, txId } from '../../protocol/index.js';
import type { HostProtocol } from '../protocol/HostProtocol.js';
import type { MeterDirectory } from '../ValueStoreDispatcher.js';
import {
  type ClearingLink,
  type SettleAnswer,
  type SettleRequest,
  type UploadCursor,
  type UploadPage,
} from './ClearingLink.js';
import type { MeterUpload } from './records.js';

/** Clearing over `protocol`, reaching each meter through `meters` (the host's MeterSessions). */
export function hostProtocolLink(protocol: HostProtocol, meters: MeterDirectory): ClearingLink {
  return {
    async upload(meterId: string, from: UploadCursor): Promise<UploadPage> {
      const a = await protocol.uploadRecords(
        meters.terminal(meterId),
        meters.ref(meterId),
        from.journal,
        from.svm,
      );
      const upload: MeterUpload = {
        svmRecords: a.svmRecords.map((s) => ({ record: s.record, mac: s.mac })),
        cardRecords: a.journal.flatMap((e) =>
          e.kind === 'card-record' ? [{ csn: e.csn, record: e.record }] : [],
        ),
        pending: a.pending.map((p) => ({
          csn: p.csn,
          purse: p.purse,
          amount: p.amount,
          counter: p.counter,
          dateTime: p.dateTime,
          rv: p.rv,
          slot: p.slot,
          mac: p.mac,
        })),
        challenge: a.challenge,
        attempts: a.journal.flatMap((e) =>
          e.kind === 'blacklisted' ? [{ serial: e.csn, purse: e.purse, at: e.time.toString() }] : [],
        ),
      };
      return {
        upload,
        next: { journal: a.next, svm: a.svmNext },
        more: a.moreJournal || a.moreSvm,
        blacklistVersion: a.blacklistVersion,
      };
    },

    async settle(meterId: string, r: SettleRequest): Promise<SettleAnswer> {
      const payload = new SettlePayload(
        r.decision === 'complete' ? SETTLE_COMPLETE : SETTLE_CANCEL,
        r.slot,
        r.csn,
        r.purse,
        r.counter,
        r.amount,
        encodeTxId(txId(r.txId)),
      );
      const a = await protocol.settle(meters.terminal(meterId), meters.ref(meterId), payload);
      const record = a.record ?? new Uint8Array(29);
      return {
        status: a.statusName,
        ...(a.record ? { logRecord: a.record } : {}),
        raw: concatBytes(
          Uint8Array.of(a.status),
          a.payload.encode(),
          be32(a.balance),
          be32(a.svmCounter),
          record,
        ),
      };
    },

    async sendBlacklist(meterId, list) {
      const a = await protocol.sendBlacklist(meters.terminal(meterId), meters.ref(meterId), {
        version: list.version,
        mode: 'full',
        base: 0,
        keyVersions: [],
        add: list.serials,
        remove: [],
      });
      return { version: a.version, status: BL_STATUS_NAMES[a.status] ?? `status ${a.status}` };
    },
  };
}
