/**
 * The clearing payloads of the power line (protocol/clearing.ts, docs/host-protocol.md "Clearing"):
 * round trips, every truncation, and each rule a parser enforces on outside bytes.
 */
import { describe, expect, it } from 'vitest';
import { MalformedDataError } from '../../card/iso7816/errors.js';
import { concatBytes, fromHex } from '../../card/util/hex.js';
import { be32 } from '../../card/util/bigEndian.js';
import { RtcTime } from '../../protocol/RtcTime.js';
import {
  BL_APPLIED,
  BL_STALE,
  UPLOAD_PAGE_BUDGET,
  decodeBlacklistAnswer,
  decodeBlacklistUpdate,
  decodeUploadAnswer,
  decodeUploadRequest,
  encodeBlacklistBody,
  encodeBlacklistUpdate,
  encodeUploadBody,
  encodeUploadRequest,
  type BlacklistUpdate,
  type UploadBody,
} from '../../protocol/clearing.js';

const ID = fromHex('00C0DE');
const tail = concatBytes(be32(12345), ID); // what the SAM appends: Balance ‖ ID
const csn = (n: number) => fromHex(`4D500000000000${n.toString(16).padStart(2, '0')}`);
const cardRecord = (counter: number) => {
  const r = new Uint8Array(38);
  r[0] = 2; // debit
  r[1] = 1; // purse
  r[11] = counter;
  r.fill(0xab, 30);
  return r;
};
const svmRecord = (counter: number) => {
  const r = new Uint8Array(29);
  r[0] = 1;
  r[22] = counter;
  return r;
};

const body: UploadBody = {
  blacklistVersion: 7,
  next: 13,
  oldest: 10,
  svmNext: 5,
  moreJournal: true,
  moreSvm: false,
  pending: [
    {
      slot: 2,
      csn: csn(1),
      purse: 1,
      amount: 500,
      counter: 9,
      dateTime: fromHex('261123100000'),
      rv: fromHex('0102030405060708'),
      mac: fromHex('1112131415161718'),
    },
  ],
  svmRecords: [{ record: svmRecord(4), mac: fromHex('0102030405060708') }],
  journal: [
    { seq: 10, kind: 'card-record', csn: csn(1), record: cardRecord(9) },
    { seq: 12, kind: 'blacklisted', csn: csn(2), purse: 1, time: RtcTime.of(2026, 11, 23, 10, 5) },
  ],
};

function malformed(f: () => unknown, offset?: number): MalformedDataError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MalformedDataError);
  if (offset !== undefined) expect((err as MalformedDataError).offset).toBe(offset);
  return err as MalformedDataError;
}

describe('record upload (H = 55)', () => {
  it('request: from ‖ svmFrom ‖ challenge round trip, u32 maximum, one past it refused', () => {
    const challenge = fromHex('C1C2C3C4C5C6C7C8');
    const b = encodeUploadRequest({ from: 0xffffffff, svmFrom: 3, challenge });
    expect(b).toEqual(fromHex('FFFFFFFF00000003C1C2C3C4C5C6C7C8'));
    expect(decodeUploadRequest(b)).toEqual({ from: 0xffffffff, svmFrom: 3, challenge });
    expect(() => encodeUploadRequest({ from: 2 ** 32, svmFrom: 0, challenge })).toThrow(/from/);
    expect(() => encodeUploadRequest({ from: 0, svmFrom: 0, challenge: challenge.subarray(0, 7) })).toThrow(
      /challenge/,
    );
    malformed(() => decodeUploadRequest(b.subarray(0, 15)));
    malformed(() => decodeUploadRequest(concatBytes(b, Uint8Array.of(0))), 16);
  });

  it('answer: body ‖ Balance ‖ ID round trip', () => {
    const a = decodeUploadAnswer(concatBytes(encodeUploadBody(body), tail));
    expect(a).toEqual({ ...body, balance: 12345, id: ID });
  });

  it('every truncation of an answer is refused with MalformedDataError, and a trailing byte too', () => {
    const full = concatBytes(encodeUploadBody(body), tail);
    for (let n = 0; n < full.length; n++) malformed(() => decodeUploadAnswer(full.subarray(0, n)));
    malformed(() => decodeUploadAnswer(concatBytes(full, Uint8Array.of(0))), full.length);
  });

  it('refuses a journal out of order, outside oldest..next-1, of an unknown kind, and bad record types', () => {
    const enc = (j: Partial<UploadBody>) => concatBytes(encodeUploadBody({ ...body, ...j }), tail);
    const good = enc({});
    // journal starts after: 1+4+4+4+4+1+1+38 + 2+37 + 2 = 98
    const j0 = 98;
    const swapSeq = good.slice();
    swapSeq.set(be32(11), j0 + 5 + 8 + 38); // second entry's seq 12 -> 11 still ascends: fine
    expect(decodeUploadAnswer(swapSeq).journal[1]!.seq).toBe(11);
    swapSeq.set(be32(10), j0 + 5 + 8 + 38); // equal to the first: not ascending
    expect(malformed(() => decodeUploadAnswer(swapSeq), j0 + 51).message).toMatch(/ascend/);
    const low = good.slice();
    low.set(be32(9), j0); // below oldest 10
    expect(malformed(() => decodeUploadAnswer(low), j0).message).toMatch(/outside/);
    const high = good.slice();
    high.set(be32(13), j0 + 51); // = next
    malformed(() => decodeUploadAnswer(high), j0 + 51);
    const kind = good.slice();
    kind[j0 + 4] = 3;
    malformed(() => decodeUploadAnswer(kind), j0 + 4);
    const rec = good.slice();
    rec[j0 + 13] = 7; // card record type
    malformed(() => decodeUploadAnswer(rec), j0 + 13);
    const svm = good.slice();
    svm[59] = 9; // SVM record type (after 57 bytes of head + pending, 2 of count)
    malformed(() => decodeUploadAnswer(svm), 59);
    const oldest = good.slice();
    oldest.set(be32(14), 9); // oldest > next
    malformed(() => decodeUploadAnswer(oldest), 9);
    const more = good.slice();
    more[17] = 0x04;
    malformed(() => decodeUploadAnswer(more), 17);
    const nP = good.slice();
    nP[18] = 17;
    malformed(() => decodeUploadAnswer(nP), 18);
    const status = good.slice();
    status[0] = 1;
    malformed(() => decodeUploadAnswer(status), 0);
    const bcd = good.slice();
    bcd[good.length - 7 - 6 + 1] = 0x13; // the attempt's month 13
    malformed(() => decodeUploadAnswer(bcd));
  });

  it('the encoder keeps the page within its budget and the journal in order', () => {
    const many = Array.from({ length: 400 }, (_, i) => ({
      seq: i + 1,
      kind: 'blacklisted' as const,
      csn: csn(1),
      purse: 1,
      time: RtcTime.of(2026, 1, 1),
    }));
    expect(() =>
      encodeUploadBody({ ...body, next: 401, oldest: 1, journal: many, svmRecords: [], pending: [] }),
    ).toThrow(new RegExp(`over ${UPLOAD_PAGE_BUDGET}`));
    expect(() => encodeUploadBody({ ...body, journal: [...body.journal].reverse() })).toThrow(/ascend/);
    expect(() => encodeUploadBody({ ...body, next: 12 })).toThrow(/below next/);
    expect(() =>
      encodeUploadBody({ ...body, svmRecords: [{ record: new Uint8Array(28), mac: new Uint8Array(8) }] }),
    ).toThrow(/svmRecords\[0\]\.record/);
    expect(() =>
      encodeUploadBody({ ...body, pending: Array.from({ length: 17 }, () => body.pending[0]!) }),
    ).toThrow(/pending/);
  });
});

describe('blacklist (H = 56)', () => {
  const full: BlacklistUpdate = {
    version: 3,
    mode: 'full',
    base: 0,
    keyVersions: [1, 2],
    cardKeyVersions: [3],
    add: [csn(1), csn(2)],
    remove: [],
  };
  const delta: BlacklistUpdate = {
    version: 4,
    mode: 'delta',
    base: 3,
    keyVersions: [],
    cardKeyVersions: [],
    add: [csn(3)],
    remove: [csn(1)],
  };

  it('full and delta round trip, byte layout of the full one', () => {
    const b = encodeBlacklistUpdate(full);
    expect(b).toEqual(
      concatBytes(
        fromHex('00000003 00 00000000 02 0102 01 03 0002'.replace(/ /g, '')),
        csn(1),
        csn(2),
        fromHex('0000'),
      ),
    );
    expect(decodeBlacklistUpdate(b)).toEqual(full);
    expect(decodeBlacklistUpdate(encodeBlacklistUpdate(delta))).toEqual(delta);
    const top = { ...full, version: 0xffffffff };
    expect(decodeBlacklistUpdate(encodeBlacklistUpdate(top)).version).toBe(0xffffffff);
    expect(() => encodeBlacklistUpdate({ ...full, version: 2 ** 32 })).toThrow(/version/);
  });

  it('a full list of 510 serials fits one COMMAND (4095 bytes); 511 is refused by the encoder', () => {
    const serials = (n: number) =>
      Array.from({ length: n }, (_, i) => fromHex(`4D50${i.toString(16).padStart(12, '0')}`));
    const b = encodeBlacklistUpdate({ ...full, keyVersions: [], cardKeyVersions: [], add: serials(510) });
    expect(b.length).toBe(4095);
    expect(decodeBlacklistUpdate(b).add).toHaveLength(510);
    expect(() =>
      encodeBlacklistUpdate({ ...full, keyVersions: [], cardKeyVersions: [], add: serials(511) }),
    ).toThrow(/over 4096/);
  });

  it('every truncation refused; a trailing byte refused', () => {
    const b = encodeBlacklistUpdate(delta);
    for (let n = 0; n < b.length; n++) malformed(() => decodeBlacklistUpdate(b.subarray(0, n)));
    malformed(() => decodeBlacklistUpdate(concatBytes(b, Uint8Array.of(0))), b.length);
  });

  it('refuses version 0, an unknown mode, a full list with a base or removals, a delta not above its base', () => {
    const b = encodeBlacklistUpdate(full);
    const v0 = b.slice();
    v0.set(be32(0), 0);
    malformed(() => decodeBlacklistUpdate(v0), 0);
    const mode = b.slice();
    mode[4] = 2;
    malformed(() => decodeBlacklistUpdate(mode), 4);
    const base = b.slice();
    base.set(be32(1), 5);
    malformed(() => decodeBlacklistUpdate(base), 5);
    const d = encodeBlacklistUpdate(delta);
    const sameBase = d.slice();
    sameBase.set(be32(4), 5);
    malformed(() => decodeBlacklistUpdate(sameBase), 5);
    const fullRemoving = d.slice();
    fullRemoving[4] = 0;
    fullRemoving.set(be32(0), 5);
    expect(malformed(() => decodeBlacklistUpdate(fullRemoving)).message).toMatch(/removes nothing/);
  });

  it('refuses serials not strictly ascending (a duplicate), a serial both added and removed, key versions out of order', () => {
    // version ‖ mode ‖ base ‖ nK ‖ nC ‖ nA …
    const dup = concatBytes(fromHex('0000000100000000000000' + '0002'), csn(1), csn(1), fromHex('0000'));
    expect(malformed(() => decodeBlacklistUpdate(dup), 13 + 8).message).toMatch(/ascend/);
    const both = concatBytes(
      fromHex('00000002010000000100' + '00' + '0001'),
      csn(1),
      fromHex('0001'),
      csn(1),
    );
    expect(malformed(() => decodeBlacklistUpdate(both)).message).toMatch(/both/);
    const keys = fromHex('0000000100000000000202010000000000');
    malformed(() => decodeBlacklistUpdate(keys), 11);
    const cardKeys = fromHex('000000010000000000' + '00' + '020504' + '00000000');
    expect(malformed(() => decodeBlacklistUpdate(cardKeys), 12).message).toMatch(/card key versions/);
    expect(() => encodeBlacklistUpdate({ ...full, cardKeyVersions: [4, 4] })).toThrow(/cardKeyVersions/);
    expect(() => encodeBlacklistUpdate({ ...full, add: [csn(2), csn(1)] })).toThrow(/ascend/);
    expect(() => encodeBlacklistUpdate({ ...delta, add: [csn(1)], remove: [csn(1)] })).toThrow(/both/);
    expect(() => encodeBlacklistUpdate({ ...full, remove: [csn(9)] })).toThrow(/full/);
    expect(() => encodeBlacklistUpdate({ ...delta, base: 4 })).toThrow(/base/);
  });

  it('answer: status ‖ version ‖ count ‖ Balance ‖ ID round trip; unknown status and truncation refused', () => {
    const b = concatBytes(encodeBlacklistBody({ status: BL_STALE, version: 9, count: 2 }), tail);
    expect(b.length).toBe(16);
    expect(decodeBlacklistAnswer(b)).toEqual({
      status: BL_STALE,
      version: 9,
      count: 2,
      balance: 12345,
      id: ID,
    });
    const bad = b.slice();
    bad[0] = 9;
    malformed(() => decodeBlacklistAnswer(bad), 0);
    for (let n = 0; n < b.length; n++) malformed(() => decodeBlacklistAnswer(b.subarray(0, n)));
    expect(
      decodeBlacklistAnswer(
        concatBytes(encodeBlacklistBody({ status: BL_APPLIED, version: 1, count: 0 }), tail),
      ).status,
    ).toBe(BL_APPLIED);
  });
});
