/**
 * docs/settlement.md cannot drift: its example blocks (a seeded seed-004 world: centre, two
 * terminals, two settlement cards, every APDU) are generated again here and must equal the
 * document's byte for byte. Regenerate with `npx tsx test/settlement/settleExamples.ts --write`.
 */
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import * as settle from '../../card/applets/settle/constants.js';
import { CENTRE_ERROR_REASONS } from '../../host/settlement/CentreError.js';
import { DOC_PATH, DeterministicEcdsaProvider, generate, signRfc6979 } from './settleExamples.js';

function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /<!-- example:([a-z-]+) -->\n```(apdu|values)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.set(
      m[1]!,
      m[3]!.split('\n').filter((l) => l.trim() !== ''),
    );
  return out;
}

/** The status word ending the answer line(s) that follow the command starting with `command`. */
function answersTo(lines: string[], command: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith(command)) continue;
    let j = i + 1;
    while (!lines[j]!.startsWith('card<')) j++;
    let k = j + 1;
    while (k < lines.length && lines[k]!.startsWith(' ')) k++;
    out.push(lines[k - 1]!.trim().split(' ').slice(-2).join(''));
  }
  return out;
}

const examples = generate();

describe('docs/settlement.md examples', () => {
  it('every generated block is in the document, and equal to it', async () => {
    const doc = blocks(readFileSync(DOC_PATH, 'utf8'));
    const now = await examples;
    expect([...doc.keys()].sort()).toEqual([...now.keys()].sort());
    for (const [name, lines] of now) expect(doc.get(name), name).toEqual(lines);
  });

  it('two runs give the same bytes (every key, nonce and signature is seeded)', async () => {
    const again = await generate();
    expect([...again.entries()]).toEqual([...(await examples).entries()]);
  });

  it('the service example is a whole service: every step 9000, the card answers its service record', async () => {
    const s = (await examples).get('service')!;
    for (const ins of ['card> 00 A4', 'card> 80 30 01', 'card> 80 32', 'card> 80 34', 'card> 80 36'])
      expect(answersTo(s, ins), ins).toEqual(['9000']);
    const i = s.findIndex((l) => l.startsWith('card> 80 36'));
    const answer = s.slice(i).find((l) => l.startsWith('card<'))!;
    expect(answer).toMatch(/^card< 30 81 .. 63/); // ServiceRecord, [APPLICATION 3]
  });

  it('the attack examples are refused with their specific status words', async () => {
    const b = await examples;
    expect(answersTo(b.get('replay')!, 'card> 80 36')).toEqual(['941A', '9417', '9417']);
    expect(answersTo(b.get('value-increase')!, 'card> 80 36')).toEqual(['9416']);
    expect(answersTo(b.get('value-increase')!, 'card> 80 34')).toEqual(['9000', '9410']);
    expect(answersTo(b.get('recharge')!, 'card> 80 38')).toEqual(['9000', '9417']);
    expect(b.get('wrong-password')!.at(-2)).toBe('card< 63 C2');
    expect(b.get('stolen')!.at(-1)).toMatch(/'stolen-terminal'$/);
    expect(b.get('clone')!.at(-1)).toMatch(/'blacklisted'$/);
    expect(b.get('destroyed')!.at(-1)).toMatch(/'already-refunded'$/);
  });
});

/** The lines of the document's section `## n …`, up to the next `## `. */
function section(doc: string, n: number): string {
  const start = doc.indexOf(`\n## ${n} `);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

describe('docs/settlement.md tables name what the code has', () => {
  const doc = readFileSync(DOC_PATH, 'utf8');
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, '0');

  it('§4: every INS of the settlement card has its row, with its CLA', () => {
    const apdus = section(doc, 4);
    const ins = Object.entries(settle).filter(([k]) => k.startsWith('INS_SETTLE_')) as [string, number][];
    expect(ins.length).toBeGreaterThanOrEqual(10);
    for (const [name, v] of ins) {
      const cla = v === settle.INS_SETTLE_GET_CHALLENGE || v === settle.INS_SETTLE_VERIFY ? '00' : '80';
      expect(apdus, name).toContain(`\`${cla} ${hex(v, 2)} `);
    }
  });

  it('§4: the status-word table lists exactly the card’s proprietary status words', () => {
    const rows = [...section(doc, 4).matchAll(/^\| (94[0-9A-F]{2}) \|/gm)].map((m) => m[1]);
    const sws = Object.entries(settle)
      .filter(([k]) => k.startsWith('SW_SETTLE_'))
      .map(([, v]) => hex(v as number, 4));
    expect([...rows].sort()).toEqual([...sws].sort());
  });

  it('§13: every SettlementError reason and every CentreError reason is in the refusal table', () => {
    const table = section(doc, 13);
    const src = readFileSync(
      fileURLToPath(new URL('../../terminal/settlement/SettlementError.ts', import.meta.url)),
      'utf8',
    );
    const union = src.slice(
      src.indexOf('export type SettlementRefusal'),
      src.indexOf(';', src.indexOf('export type SettlementRefusal')),
    );
    const terminalReasons = [...union.matchAll(/'([a-z-]+)'/g)].map((m) => m[1]!);
    expect(terminalReasons.length).toBeGreaterThanOrEqual(20);
    for (const r of terminalReasons) expect(table, `terminal ${r}`).toContain(`\`${r}\``);
    for (const r of CENTRE_ERROR_REASONS) expect(table, `centre ${r}`).toContain(`\`${r}\``);
  });
});

describe('DeterministicEcdsaProvider (RFC 6979)', () => {
  it('RFC 6979 A.2.5, P-256 / SHA-256, message "sample": r and s', () => {
    const d = BigInt('0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721');
    const sig = signRfc6979(d, new TextEncoder().encode('sample'));
    expect(Buffer.from(sig).toString('hex').toUpperCase()).toBe(
      'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' +
        'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
    );
  });

  it('its signatures verify under node:crypto, and a changed message does not', () => {
    const p = new DeterministicEcdsaProvider('spec-test');
    const keys = p.generateKeyPair('ecdsa-p256-sha256');
    const msg = new TextEncoder().encode('R‖X‖V');
    const sig = p.signer('ecdsa-p256-sha256', keys.privateKey).sign(msg);
    expect(sig).toEqual(p.signer('ecdsa-p256-sha256', keys.privateKey).sign(msg));
    const pub = createPublicKey({ key: Buffer.from(keys.publicKey), format: 'der', type: 'spki' });
    const ok = (m: Uint8Array) => verify('sha256', m, { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
    expect(ok(msg)).toBe(true);
    expect(ok(new TextEncoder().encode('R‖X‖W'))).toBe(false);
    expect(p.verifier('ecdsa-p256-sha256', keys.publicKey).verify(msg, sig)).toBe(true);
  });
});
