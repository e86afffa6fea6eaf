/**
 * The sessions behind the reference traces of this folder, and how to record them
 * (`npx tsx apdu-traces/record.ts` rewrites every `*.trace` here; see README.md).
 *
 * Each session names the card profile it runs against (`card/os/CardProfiles.ts`); the card is
 * built fresh, with a seeded RNG so that even the masked bytes (GET CHALLENGE) come out the same
 * on every run and the committed files only change when the card's behaviour does.
 */
import { CommandApdu } from '../card/iso7816/CommandApdu.js';
import { SeededRng } from '../card/crypto/rng.js';
import { fromHex } from '../card/util/hex.js';
import { buildCard } from '../card/os/CardProfiles.js';
import { VirtualReader } from '../reader/VirtualReader.js';
import { MemoryTraceSink, RecordingChannel } from '../reader/trace/index.js';

/** One step of a session: a comment line then a command, or a warm reset. */
export type Step = { note?: string; apdu: string } | { note?: string; reset: true };

export interface Session {
  /** File name (without .trace). */
  name: string;
  /** Profile id of the card (`@x-profile` in the trace). */
  profile: string;
  description: string;
  steps: Step[];
}

const PIN_OK = '31323334FFFFFFFF';
const PIN_BAD = '31313131FFFFFFFF';

export const SESSIONS: Session[] = [
  {
    name: 'iso-fs-basic',
    profile: 'iso-fs',
    description: 'ISO file-system card (T=1): SELECT, READ BINARY/RECORD, VERIFY, UPDATE BINARY, GET CHALLENGE, reset',
    steps: [
      { note: 'SELECT MF by file identifier', apdu: '00A40000023F00' },
      { note: 'SELECT EF 2F02 (serial number) under the MF, no FCI', apdu: '00A4020C022F02' },
      { note: 'READ BINARY of the serial number', apdu: '00B0000008' },
      { note: 'READ RECORD 1 of EF.DIR (SFI 30)', apdu: '00B201F400' },
      { note: 'SELECT the demo application by AID, FCI wanted', apdu: '00A4040008A00000099901020300' },
      { note: 'SELECT EF 5001 (transparent, 300 bytes)', apdu: '00A4020C025001' },
      { note: 'READ BINARY, first 32 bytes', apdu: '00B0000020' },
      { note: 'UPDATE BINARY before VERIFY: security status not satisfied', apdu: '00D6000004DEADBEEF' },
      { note: 'VERIFY PIN 81 with a wrong PIN: 63C2 (two tries left)', apdu: `0020008108${PIN_BAD}` },
      { note: 'VERIFY PIN 81, right PIN', apdu: `0020008108${PIN_OK}` },
      { note: 'VERIFY without data: PIN already verified', apdu: '00200081' },
      { note: 'UPDATE BINARY after VERIFY', apdu: '00D6000004DEADBEEF' },
      { note: 'READ BINARY shows the update', apdu: '00B0000008' },
      { note: 'READ RECORD 2 of the linear-fixed EF (SFI 2)', apdu: '00B2021400' },
      { note: 'READ RECORD 1 of the cyclic EF (SFI 3), allowed after the PIN', apdu: '00B2011C00' },
      { note: 'GET CHALLENGE: random, compared by status word only (header rule)', apdu: '0084000008' },
      { note: 'a warm reset clears the security status', reset: true },
      { note: 'SELECT the application again', apdu: '00A4040C08A000000999010203' },
      { note: 'READ RECORD of the cyclic EF now refused', apdu: '00B2011C00' },
      { note: 'an instruction the card does not know', apdu: '00EE000000' },
    ],
  },
  {
    name: 'iso-fs-t0',
    profile: 'iso-fs-t0',
    description:
      'ISO file-system card over T=0: case 2 and case 4 commands as the caller sees them (GET RESPONSE done by the channel)',
    steps: [
      { note: 'SELECT the demo application by AID, FCI wanted (case 4)', apdu: '00A4040008A00000099901020300' },
      { note: 'READ RECORD 1 of the linear-fixed EF (SFI 2, case 2)', apdu: '00B2011400' },
      { note: 'VERIFY PIN 81 (case 3)', apdu: `0020008108${PIN_OK}` },
      { note: 'READ RECORD 2 of the cyclic EF (SFI 3)', apdu: '00B2021C00' },
      { note: 'READ BINARY while the current EF is the cyclic one (record structure)', apdu: '00B0000001' },
    ],
  },
];

/**
 * Plays a session on a fresh card of its profile through a VirtualReader and a RecordingChannel
 * (without timing, so the text is the same on every run) and returns the trace text.
 */
export async function recordSession(s: Session): Promise<string> {
  const card = buildCard(s.profile, undefined, undefined, { rng: new SeededRng(`apdu-traces:${s.name}`) });
  const reader = new VirtualReader('meterpurse virtual reader 0', card);
  const sink = new MemoryTraceSink();
  const rec = new RecordingChannel(await reader.connect(), sink, {
    timing: false,
    tool: 'meterpurse apdu-traces/record.ts',
    extra: { profile: s.profile },
    notes: [s.description, 'Regenerate: npx tsx apdu-traces/record.ts (see apdu-traces/README.md)'],
  });
  for (const step of s.steps) {
    if (step.note) rec.comment(step.note);
    if ('reset' in step) await rec.reset();
    else await rec.transmit(CommandApdu.decode(fromHex(step.apdu)));
  }
  await rec.disconnect();
  return sink.text();
}
