// APDU decode+encode round trips per second over a mix of the seven cases, response APDUs,
// and BER-TLV parses per second (ours and, for comparison, asn1js) over test/vectors/tlv/samples.json.
import { readFileSync } from 'node:fs';
import * as asn1js from 'asn1js';
import { CommandApdu } from '../card/iso7816/CommandApdu.js';
import { ResponseApdu } from '../card/iso7816/ResponseApdu.js';
import { TlvNode } from '../card/iso7816/tlv.js';
import { fromHex } from '../card/util/hex.js';
import { opsPerSecond } from './measure.js';
import type { Figure } from './run.js';

/** Typical commands of this project, one or more per case (Nc up to 64 bytes, as real traffic). */
const COMMANDS = [
  '00A40000', // 1
  '0084000008', // 2S GET CHALLENGE
  '00B0000000', // 2S READ BINARY Ne=256
  '00B00000000400', // 2E Ne=1024
  '00A4000C023F00', // 3S SELECT MF
  '0020008108313233343536FFFF', // 3S VERIFY
  '00D6000000000A00112233445566778899', // 3E UPDATE BINARY
  '00A4040007A000000004101000', // 4S SELECT by AID
  '0088000010' + '11'.repeat(16) + '10', // 4S INTERNAL AUTHENTICATE
  '80E20000000040' + 'AB'.repeat(64) + '0100', // 4E (0x40 = 64 bytes)
].map(fromHex);

const RESPONSES = [
  '9000',
  '6A82',
  '0102030405060708' + '9000',
  '6F1A840E315041592E5359532E4444463031A5088801085F2D02656E9000',
].map(fromHex);

function samples(): Uint8Array[] {
  const path = new URL('../test/vectors/tlv/samples.json', import.meta.url);
  const json = JSON.parse(readFileSync(path, 'utf8')) as { samples: { hex: string }[] };
  return json.samples.map((s) => fromHex(s.hex));
}

export default async function bench(): Promise<Figure[]> {
  // Sanity: every command really is one of the seven cases, all seven present.
  const cases = new Set(COMMANDS.map((c) => CommandApdu.decode(c).case));
  if (cases.size !== 7) throw new Error(`bench mix covers ${cases.size} cases, expected 7`);

  let i = 0;
  let sink = 0;
  const cmd = opsPerSecond(() => {
    const a = CommandApdu.decode(COMMANDS[i++ % COMMANDS.length]!);
    sink += a.encode().length;
  });
  const decodeOnly = opsPerSecond(() => {
    sink += CommandApdu.decode(COMMANDS[i++ % COMMANDS.length]!).nc;
  });
  const rsp = opsPerSecond(() => {
    sink += ResponseApdu.decode(RESPONSES[i++ % RESPONSES.length]!).encode().length;
  });
  const tlv = samples();
  const tlvParse = opsPerSecond(() => {
    sink += TlvNode.decode(tlv[i++ % tlv.length]!).length;
  });
  const tlvRound = opsPerSecond(() => {
    sink += TlvNode.decode(tlv[i++ % tlv.length]!).encode().length;
  });
  const asn1 = opsPerSecond(
    () => {
      sink += asn1js.fromBER(tlv[i++ % tlv.length]!).offset;
    },
    1000,
    100,
  );
  if (sink === 0.5) console.log(sink); // keep the work observable
  return [
    {
      name: 'CommandApdu decode+encode round trips (7-case mix)',
      value: cmd,
      unit: '/s',
      target: '> 1,000,000/s',
    },
    { name: 'CommandApdu decode only (7-case mix)', value: decodeOnly, unit: '/s' },
    { name: 'ResponseApdu decode+encode round trips', value: rsp, unit: '/s' },
    { name: 'BER-TLV TlvNode.decode (FCI/FCP samples, 28-40 bytes)', value: tlvParse, unit: '/s' },
    { name: 'BER-TLV decode+encode round trips (same samples)', value: tlvRound, unit: '/s' },
    { name: 'asn1js.fromBER on the same samples (comparison)', value: asn1, unit: '/s' },
  ];
}
