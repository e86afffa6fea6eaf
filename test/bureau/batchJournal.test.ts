/**
 * The batch journal's rules (cli/issue/BatchJournal.ts): a CSN per subscriber allocated once and
 * durably, serials never re-used or moved back, states only forward, another card for the same
 * subscriber refused; and the fault plan's grammar (cli/issue/faults.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchJournal, JournalError, digestOf } from '../../cli/issue/BatchJournal.js';
import { FaultPlan } from '../../cli/issue/faults.js';

const dir = mkdtempSync(join(tmpdir(), 'journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = new Date('2026-12-05T10:00:00.000Z');

describe('BatchJournal', () => {
  it('allocates serials in order, once per subscriber, and keeps them across a reopen', () => {
    const path = join(dir, 'a.journal');
    const j = BatchJournal.open(path, '4d500000000000fe', () => at);
    const a = j.allocate(7, 2, digestOf('a'));
    const b = j.allocate(9, 3, digestOf('b'));
    expect([a.csn, a.state, a.attempts, b.csn]).toEqual([
      '4D500000000000FE',
      'allocated',
      0,
      '4D500000000000FF',
    ]);
    expect(j.allocate(7, 2, digestOf('a')).csn).toBe('4D500000000000FE');
    j.close();
    const again = BatchJournal.open(path, '4D500000000000FE'); // the same command again
    expect(again.nextSerial).toBe('4D50000000000100');
    expect(again.allocate(7, 2, digestOf('a')).csn).toBe('4D500000000000FE');
    expect(again.allocate(11, 4, digestOf('c')).csn).toBe('4D50000000000100');
    again.close();
  });

  it('states move forward only: allocated → personalised → registered, attempts counted', () => {
    const j = BatchJournal.open(join(dir, 'b.journal'), '0000000000000001', () => at);
    const r = j.allocate(1, 2, digestOf('x'));
    j.attempt(r.csn, 'AABBCCDDEEFF0011');
    j.attempt(r.csn, 'AABBCCDDEEFF0011');
    j.registered(r.csn); // not personalised yet: no change
    expect(j.get(1)!.state).toBe('allocated');
    j.personalised(r.csn, 'AABBCCDDEEFF0011', 12);
    j.registered(r.csn);
    j.personalised(r.csn, 'AABBCCDDEEFF0011', null); // a late repeat does not move it back
    expect(j.get(1)).toEqual({
      subscriberId: 1,
      line: 2,
      csn: '0000000000000001',
      digest: digestOf('x'),
      state: 'registered',
      attempts: 2,
      icsn: 'AABBCCDDEEFF0011',
      mkcCounter: 12,
      updatedAt: at.toISOString(),
    });
    j.close();
  });

  it('refuses: a new journal without a serial start, a start moving back, another card for a subscriber', () => {
    expect(() => BatchJournal.open(join(dir, 'c.journal'))).toThrow(JournalError);
    expect(() => BatchJournal.open(join(dir, 'c2.journal'), 'xyz')).toThrow(/16 hex digits/);
    const path = join(dir, 'd.journal');
    const j = BatchJournal.open(path, '0000000000000010');
    j.allocate(1, 2, digestOf('one'));
    j.allocate(2, 3, digestOf('two'));
    expect(() => j.allocate(1, 2, digestOf('ONE'))).toThrow(
      'subscriber 1 was issued card 0000000000000010 by this journal with other data (purses, expiry or PIN): not issued again',
    );
    j.close();
    expect(() => BatchJournal.open(path, '0000000000000011')).toThrow(
      "--serial-start 0000000000000011 is below the journal's next serial 0000000000000012",
    );
    const skip = BatchJournal.open(path, '0000000000000100'); // skipping a range forward is fine
    expect(skip.allocate(3, 4, digestOf('three')).csn).toBe('0000000000000100');
    skip.close();
  });

  it('serials wrap nowhere: the last one of the range is allocated, then the range is exhausted', () => {
    const j = BatchJournal.open(join(dir, 'e.journal'), 'FFFFFFFFFFFFFFFF');
    expect(j.allocate(1, 2, digestOf('a')).csn).toBe('FFFFFFFFFFFFFFFF');
    expect(() => j.allocate(2, 3, digestOf('b'))).toThrow('the serial range is exhausted');
    j.close();
  });
});

describe('FaultPlan (MP_FAULT_KILL_AT)', () => {
  it('kills exactly at the named points', () => {
    const hits: string[] = [];
    let where = '';
    const plan = new FaultPlan('row:2:after-mkc-save, row:3:apdu:7', () => hits.push(where));
    for (const [row, w] of [
      [1, 'after-mkc-save'],
      [2, 'after-allocate'],
      [2, 'after-mkc-save'],
    ] as const) {
      where = `${row}:${w}`;
      plan.at(row, w);
    }
    for (let k = 1; k <= 8; k++) {
      where = `3:apdu:${k}`;
      plan.apdu(3, k);
    }
    expect(hits).toEqual(['2:after-mkc-save', '3:apdu:7']);
    expect(new FaultPlan(undefined).active).toBe(false);
  });

  it('refuses a point it does not know', () => {
    expect(() => new FaultPlan('row:1:later')).toThrow(/'row:1:later' is not row:<n>:</);
    expect(() => new FaultPlan('row:0:done')).toThrow(RangeError);
    expect(() => new FaultPlan('row:1:apdu:0')).toThrow(RangeError);
  });
});
