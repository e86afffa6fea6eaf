/** The ASN.1 module (card/pki/Settlement.asn1) and the code agree: tags and field counts. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as asn1js from 'asn1js';
import {
  Certificate,
  InvalidCardList,
  PasswordSetting,
  PasswordTicket,
  ServiceRecord,
  SignedValue,
  TroubledTerminalList,
  UsageUpload,
  cardAuthInput,
  cardValueInput,
  passwordInput,
  terminalValueInput,
  timeStampInput,
} from '../../card/pki/index.js';
import { T0, bytes, ids, samples, world, type World } from './fixtures.js';

const text = readFileSync(new URL('../../card/pki/Settlement.asn1', import.meta.url), 'utf8').replace(
  /--[^\n]*/g,
  '',
);

/** `Name ::= [APPLICATION n] SEQUENCE { ... }` → n and the number of top-level fields. */
function applicationTypes(): Map<string, { tag: number; fields: number }> {
  const out = new Map<string, { tag: number; fields: number }>();
  const re = /(\w+)\s*::=\s*\[APPLICATION (\d+)\]\s*SEQUENCE\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let depth = 1;
    let fields = 1;
    let i = re.lastIndex;
    for (; depth > 0; i++) {
      const c = text[i];
      if (c === '{' || c === '(') depth++;
      else if (c === '}' || c === ')') depth--;
      else if (c === ',' && depth === 1) fields++;
    }
    out.set(m[1]!, { tag: Number(m[2]), fields });
  }
  return out;
}

let w: World;
let s: ReturnType<typeof samples>;
beforeAll(() => {
  w = world();
  s = samples(w);
});

function shape(der: Uint8Array): { tag: number; fields: number } {
  const b = asn1js.fromBER(der).result as asn1js.Constructed;
  expect(b.idBlock.tagClass).toBe(2);
  return { tag: b.idBlock.tagNumber, fields: b.valueBlock.value.length };
}

describe('Settlement.asn1 ↔ code', () => {
  it('every [APPLICATION n] type of the module has the tag and field count the code encodes', () => {
    const sess = {
      cardId: ids.card,
      terminalId: ids.terminal,
      terminalNonce: bytes(8, 1),
      cardNonce: bytes(8, 2),
    };
    const ps = PasswordSetting.decode(s['password-setting']!.der);
    const encoded: Record<string, Uint8Array> = {
      TBSCertificate: Certificate.decode(s['certificate']!.der).tbs(),
      TBSSignedValue: SignedValue.decode(s['signed-value']!.der).tbs(),
      TBSServiceRecord: ServiceRecord.decode(s['service-record']!.der).tbs(),
      TBSInvalidCardList: InvalidCardList.decode(s['invalid-card-list']!.der).tbs(),
      TBSTroubledTerminalList: TroubledTerminalList.decode(s['troubled-terminal-list']!.der).tbs(),
      TBSPasswordSetting: ps.tbs(),
      TBSPasswordTicket: PasswordTicket.forSetting(ps, w.centre.signer).tbs(),
      TBSUsageUpload: UsageUpload.decode(s['usage-upload']!.der).tbs(),
      CardValueInput: cardValueInput({ ...sess, value: 1 }),
      TerminalValueInput: terminalValueInput({ ...sess, value: 1, dateTime: T0 }),
      TimeStampInput: timeStampInput({
        terminalId: ids.terminal,
        updateCounter: 1,
        timeStamp: bytes(16, 0),
        valueSignature: bytes(64, 0),
      }),
      CardAuthInput: cardAuthInput(sess),
      TerminalPasswordInput: passwordInput('terminal', { ...sess, password: bytes(4, 0x31) }),
      CardPasswordInput: passwordInput('card', { ...sess, password: bytes(4, 0x31) }),
    };
    const types = applicationTypes();
    for (const [name, der] of Object.entries(encoded)) {
      expect(types.get(name), name).toEqual(shape(der));
    }
    // UsageManagementKey is hashed, not exposed; every other APPLICATION type is covered above
    expect([...types.keys()].filter((n) => !(n in encoded))).toEqual(['UsageManagementKey']);
    // tags are unique
    expect(new Set([...types.values()].map((t) => t.tag)).size).toBe(types.size);
  });
});
