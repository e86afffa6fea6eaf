/**
 * Golden multi-channel traces (format version 2) of every command of the purse, SAM, SVM,
 * commissioning card, master-key card and personalisation gate applets (successes and refusals)
 * and of complete flows, made from fixed seeds: the world of docs/purse-spec.md's worked examples
 * (`test/applets/specExamples.ts`: demo issuer seed "purse-spec", every chip's random source
 * seeded), its commissioning card and two meters' modules, and the seeded key ceremony, MKC and
 * blank chip of docs/personalisation.md (`flowEnv`); each chip in its own in-process reader, every
 * channel recorded into one trace by one `TraceRecorder`. Because the chips are deterministic, a
 * replay against a fresh world made the same way answers byte for byte — GET CHALLENGE and every
 * cryptogram over it included — with no mask needed (`test/trace/golden.test.ts`).
 *
 * Every exchange carries the comment that says what it is; where a step names a status word, the
 * recording checks that the card answered it (so a comment can never say 6985 above a 9000).
 *
 * `npx tsx apdu-traces/record.ts` rewrites these files with the single-card ones.
 */
import { CommandApdu } from '../card/iso7816/CommandApdu.js';
import type { ResponseApdu } from '../card/iso7816/ResponseApdu.js';
import { AID_PURSE, AID_SAM, AID_SVM } from '../card/applets/constants.js';
import { be32, u32 } from '../card/util/bigEndian.js';
import { concatBytes, fromHex, toHex } from '../card/util/hex.js';
import { deriveTerminalKey } from '../card/crypto/keyHierarchy.js';
import { loadMacInput, tokenCoreInput } from '../card/applets/PurseCrypto.js';
import { MeterData, PurseState } from '../card/applets/purse/records.js';
import {
  OFFLINE_EVENT_POWER_FAILURE,
  OfflineReading,
  remoteLoadMacInput,
  signClearReadings,
  signOfflineConfig,
  verifyOfflineReading,
  verifyRemoteReceipt,
  type OfflineConfigFields,
  type OfflineReadingFields,
  type RemoteLoadFields,
} from '../card/applets/purse/offline.js';
import { SvmRegister } from '../card/applets/svm/records.js';
import { KEY_SVM_REGISTER } from '../card/applets/svm/SvmApplet.js';
import { keyPurse, pinBlock } from '../card/applets/purse/PurseApplet.js';
import type { CardOs } from '../card/os/CardOs.js';
import * as A from '../terminal/apdus.js';
import type { CardChannel } from '../reader/CardChannel.js';
import { VirtualReader } from '../reader/VirtualReader.js';
import { MemoryTraceSink, TraceRecorder, type RecordingChannel } from '../reader/trace/index.js';
import { SPEC_SEED, specWorld, type DeviceName, type SpecWorld } from '../test/applets/specExamples.js';
import { HostSide } from '../test/transfer/hostSide.js';
import { PERSO_SEED } from '../test/bureau/persoExamples.js';
import { NodeCipherProvider } from '../card/crypto/NodeCipherProvider.js';
import { SeededRng } from '../card/crypto/rng.js';
import { makeCommissioningCard } from '../card/applets/commissioning/makeCommissioningCard.js';
import { PROFILE_MASTER_KEY, makeMasterKeyCard } from '../card/applets/mkc/makeMasterKeyCard.js';
import { BLANK_PROFILE, makeBlankCard } from '../card/applets/perso/blank.js';
import { PersoCrypto, KIND_SUBSCRIBER } from '../card/applets/perso/channel.js';
import { CommissioningData } from '../meter/commissioning/CommissioningData.js';
import { TariffTable } from '../protocol/TariffTable.js';
import { RtcTime } from '../protocol/RtcTime.js';
import { makeSam, makeSvm } from '../card/applets/profiles.js';
import { createMeterOnModules } from '../meter/cardslot/createCardMeter.js';
import type { ChannelRole, ChannelWrapper } from '../meter/cardslot/ModuleLink.js';
import {
  MasterKeyCard,
  STORE_DATA_BLOCK,
  ceremonySlots,
  keyIdsOf,
  mkcPinBlock,
  personalise,
  storeDataOf,
  combineComponents,
  generateComponents,
  type ComponentFile,
  type Manifest,
  type SubscriberOrder,
} from '../terminal/index.js';
import { AUTH_COMMISSIONING } from '../card/applets/sam/SamApplet.js';
import { CSN, METER_ID, NOW, TERMINAL_ID, VENDING_TERMINAL } from '../test/transfer/world.js';

/**
 * The chips a trace can name: the four of the purse-spec world, the commissioning card of that
 * world's utility 1 (`comcard`), the personalisation bureau's master-key card (`mkc`) and
 * blank subscriber chip (`chip`) of docs/personalisation.md's seeded ceremony, the two meters'
 * modules, and `esvm`: a second SVM of the world's meter (same meter id, keys and maximum as
 * `svm`, its own seed) whose counter a lab write put at FFFFFFFF (`exhaustedSvm`), so the 9404
 * refusals have a trace of their own without touching the world's SVM that every other SVM trace
 * shares.
 */
export type ChipName =
  | DeviceName
  | 'comcard'
  | 'mkc'
  | 'chip'
  | 'msam'
  | 'msvm'
  | 'gsam'
  | 'gsvm'
  | 'esvm';

/** The reader each chip sits in, by channel label. */
export const FLOW_READERS: Readonly<Record<ChipName, string>> = {
  card: 'card slot',
  sam: 'SAM slot',
  svm: 'SVM slot',
  pincard: 'second card slot',
  comcard: 'installer card slot',
  mkc: 'MKC slot',
  chip: 'chip slot',
  msam: 'SAM 000123',
  msvm: 'SVM 000123',
  gsam: 'SAM 000456',
  gsvm: 'SVM 000456',
  esvm: 'exhausted SVM slot',
};

/**
 * The seed of each chip's random source (`SeededRng(seed)`), as the world seeds it: a card file
 * of the chip served with `card serve --rng-seed <seed>` answers as the in-process chip does.
 */
export const FLOW_RNG_SEEDS: Readonly<Record<ChipName, string>> = {
  card: `${SPEC_SEED}:card`,
  sam: `${SPEC_SEED}:sam`,
  svm: `${SPEC_SEED}:svm`,
  pincard: `${SPEC_SEED}:pincard`,
  comcard: `${SPEC_SEED}:comcard`,
  mkc: `${PERSO_SEED}:mkc`,
  chip: `${PERSO_SEED}:chip`,
  msam: `${SPEC_SEED}:meter-sam`,
  msvm: `${SPEC_SEED}:meter-svm`,
  gsam: `${SPEC_SEED}:gas-sam`,
  gsvm: `${SPEC_SEED}:gas-svm`,
  esvm: `${SPEC_SEED}:svm-exhausted`,
};

/** The card profile (card/os/CardProfiles.ts) of each chip: what `card new` / a card file holds. */
export const FLOW_PROFILES: Readonly<Record<ChipName, string>> = {
  card: 'subscriber',
  sam: 'sam',
  svm: 'svm',
  pincard: 'subscriber',
  comcard: 'commissioning card (makeCommissioningCard; no card profile)',
  mkc: PROFILE_MASTER_KEY,
  chip: BLANK_PROFILE.subscriber,
  msam: 'sam',
  msvm: 'svm',
  gsam: 'sam',
  gsvm: 'svm',
  esvm: 'svm',
};

/** The electricity meter of the commissioning flow (the world's meter id) and the gas meter. */
export const GAS_METER_ID = fromHex('000456');
/** The meters' clock when the flows start: Monday 23 November 2026, 10:00. */
export const METER_START = RtcTime.of(2026, 11, 23, 10, 0).seconds;

/** The balance the exhausted SVM holds (25.00): value a replacement SVM would have to take over. */
export const EXHAUSTED_SVM_BALANCE = 2500;
/** The largest SVM counter (u32): at it the SVM refuses 9404 whatever would move it (purse-spec §5). */
export const SVM_COUNTER_MAX = 0xffffffff;

/**
 * `esvm`: an SVM of the world's meter (meter id 000123, terminal id 00000123, maximum 1000.00,
 * the world issuer's K_svm, so the world's SAM authorises for it) with SeededRng("purse-spec:
 * svm-exhausted") and a balance of 25.00, then a lab write no APDU can make: its register's
 * counter set to FFFFFFFF in persistent memory — what 4 billion operations would do (as
 * test/attacks/counter-exhaustion.test.ts does). The write is in the chip's image, so a card
 * file of the chip (`createCardFile`, lab mode) holds it too.
 */
function exhaustedSvm(world: SpecWorld): CardOs {
  const svm = makeSvm(world.issuer, {
    meterId: METER_ID,
    terminalId: TERMINAL_ID,
    max: 100_000,
    balance: EXHAUSTED_SVM_BALANCE,
    rng: new SeededRng(FLOW_RNG_SEEDS.esvm),
  });
  const r = SvmRegister.decode(svm.store.read(KEY_SVM_REGISTER)!);
  svm.store.commit([[KEY_SVM_REGISTER, new SvmRegister(r.balance, r.max, SVM_COUNTER_MAX).encode()]]);
  svm.os.powerUp();
  return svm.os;
}

function meterModules(world: SpecWorld, gas: boolean): { sam: CardOs; svm: CardOs } {
  const meterId = gas ? GAS_METER_ID : METER_ID;
  const ids = { meterId, terminalId: Uint8Array.of(0, ...meterId), purse: gas ? 2 : 1, pairing: 1 };
  const sam = makeSam(world.issuer, { ...ids, rng: new SeededRng(FLOW_RNG_SEEDS[gas ? 'gsam' : 'msam']) });
  const svm = makeSvm(world.issuer, { ...ids, max: 100_000, rng: new SeededRng(FLOW_RNG_SEEDS[gas ? 'gsvm' : 'msvm']) });
  return { sam: sam.os, svm: svm.os };
}

/**
 * Where a flow's chips come from: `spec` the purse-spec world (and its commissioning card);
 * `ceremony` a fresh master-key card (LCS 03, no key) and a blank chip, with the seeded ceremony's
 * component files; `sealed` the same MKC loaded with both custodians' components and sealed
 * before the trace starts (through a channel that is not recorded), and the blank chip.
 */
export type FlowEnvKind = 'spec' | 'ceremony' | 'sealed';

/** The seeded key ceremony of docs/personalisation.md (test/bureau/persoExamples.ts). */
export interface Ceremony {
  readonly cipher: NodeCipherProvider;
  readonly files: ComponentFile[];
  readonly manifest: Manifest;
  /** The combined master of a slot. */
  master(slot: number): Uint8Array;
}

export interface FlowEnv {
  readonly kind: FlowEnvKind;
  readonly world: SpecWorld;
  readonly chips: Readonly<Record<ChipName, CardOs>>;
  /** The commissioning card's payload (CommissioningData of the world's meter). */
  readonly commissioning: Uint8Array;
  readonly ceremony: Ceremony;
}

/** The commissioning card's serial, and the MKC's, the blank chip's and its transport version. */
export const COM_CSN = fromHex('4D43000000000001');
export const MKC_SERIAL = fromHex('4D4B430000000001');
export const MKC_PIN = '2468';
export const ICSN = fromHex('4943534E00000001');
export const TKV = 1;
/** The order the bureau flows personalise the blank chip with (docs/personalisation.md). */
export const PERSO_ORDER: SubscriberOrder = {
  kind: 'subscriber',
  csn: fromHex('4D50000000000001'),
  issuerId: fromHex('4D505552'),
  expiry: fromHex('301231'),
  purses: [{ id: 1, balance: 1000, max: 5_000_00, limit: 1_000_00, unit: 978 }],
  pin: '1234',
};

function ceremony(): Ceremony {
  const cipher = new NodeCipherProvider();
  const { files, manifest } = generateComponents(
    new SeededRng(`${PERSO_SEED}:ceremony`),
    cipher,
    ceremonySlots([1], 2, 1, 1),
    2,
  );
  return {
    cipher,
    files,
    manifest,
    master: (slot) => combineComponents(files.map((f) => f.components.find((c) => c.slot === slot)!.component)),
  };
}

/** A fresh environment of `kind`: every chip deterministic (its own SeededRng). */
export async function flowEnv(kind: FlowEnvKind = 'spec'): Promise<FlowEnv> {
  const world = specWorld();
  // A lab write (no APDU can do it): the gas purse of the second card at transaction counter FFFF,
  // so cmd-purse can show a LOAD refused 9404 (purse-spec §3.1: the counter never repeats).
  const gas = PurseState.decode(world.pincard.store.read(keyPurse(2))!);
  world.pincard.store.commit([[keyPurse(2), gas.with(gas.balance, 0xffff).encode()]]);
  // And its water purse 03 blocked (status 01; no APDU of the trace world blocks one), so
  // cmd-purse-offline can show a REMOTE LOAD refused 6985 before its MAC is looked at.
  const water = PurseState.decode(world.pincard.store.read(keyPurse(3))!);
  world.pincard.store.commit([
    [keyPurse(3), new PurseState(water.balance, water.max, water.limit, water.unit, water.counter, 1).encode()],
  ]);
  const commissioning = new CommissioningData(METER_ID, 0x00c0ffee, 300, 50, TariffTable.example()).encode();
  const comcard = makeCommissioningCard(world.issuer, {
    csn: COM_CSN,
    purse: 1,
    payload: commissioning,
    uses: 2,
    rng: new SeededRng(FLOW_RNG_SEEDS.comcard),
  });
  comcard.os.powerUp();
  const c = ceremony();
  const mkc = makeMasterKeyCard({
    serial: MKC_SERIAL,
    pin: MKC_PIN,
    cipher: c.cipher,
    rng: new SeededRng(FLOW_RNG_SEEDS.mkc),
  });
  const chip = makeBlankCard('subscriber', {
    icsn: ICSN,
    tkv: TKV,
    transportKey: new PersoCrypto(c.cipher).transportKey(c.master(0x01), ICSN, KIND_SUBSCRIBER),
    cipher: c.cipher,
    rng: new SeededRng(FLOW_RNG_SEEDS.chip),
  });
  const meter = meterModules(world, false);
  const gasMeter = meterModules(world, true);
  const esvm = exhaustedSvm(world);
  if (kind === 'sealed') {
    // The custodians' ceremony, before the trace: not recorded (cmd-mkc.trace shows it).
    const ch = await new VirtualReader('ceremony', mkc.os).connect();
    const card = await MasterKeyCard.open(ch, MKC_PIN);
    for (const f of c.files) await card.loadComponents(f);
    await card.seal(c.manifest);
    await ch.disconnect();
  }
  return {
    kind,
    world,
    commissioning,
    ceremony: c,
    chips: {
      card: world.card.os,
      sam: world.sam.os,
      svm: world.svm.os,
      pincard: world.pincard.os,
      comcard: comcard.os,
      mkc: mkc.os,
      chip: chip.os,
      msam: meter.sam,
      msvm: meter.svm,
      gsam: gasMeter.sam,
      gsvm: gasMeter.svm,
      esvm,
    },
  };
}

/** What a flow can do: send a command (checking the status word when one is given), reset a chip. */
export interface FlowContext {
  /**
   * Sends `c` to chip `d` with the comment `note`; when `sw` is given the card must answer it
   * (the recording fails otherwise) and the note says so. Returns the response data.
   */
  send(d: ChipName, c: CommandApdu | string, note: string, sw?: number): Promise<Uint8Array>;
  /** A warm reset of chip `d` (e.g. the card pulled and put back): its volatile state is gone. */
  reset(d: ChipName, note: string): Promise<void>;
  /**
   * The recorded channel of chip `d` for terminal code that drives it itself (the bureau): each
   * exchange gets the comment `describe` gives its command.
   */
  channel(d: ChipName, describe: (c: CommandApdu) => string): CardChannel;
  /**
   * For a `lazy` flow: a meter's channel wrapper that records the channel of each role (card, SAM,
   * SVM) as chip `roles[role]` when the meter opens it, each exchange commented by `describe`.
   */
  wrap(roles: Record<ChannelRole, ChipName>, describe: (c: CommandApdu, role: ChannelRole) => string): ChannelWrapper;
  readonly world: SpecWorld;
  readonly env: FlowEnv;
}

export interface Flow {
  /** File name (without .trace). */
  name: string;
  description: string;
  /** Where its chips come from; default 'spec'. */
  env?: FlowEnvKind;
  /** The chips it uses, in the order their channels open. */
  devices: ChipName[];
  /** Its channels are opened by the code it drives (a meter), through `ctx.wrap`, not beforehand. */
  lazy?: boolean;
  run(ctx: FlowContext): Promise<void>;
}

const sw = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const Z8 = new Uint8Array(8);

/** Mutual authentication of purse-spec §3.4: the card's challenge, the SAM's, both cryptograms. */
async function authenticate(x: FlowContext, select = true): Promise<void> {
  if (select) {
    await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse (FCI)', 0x9000);
    await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application (FCI)', 0x9000);
  }
  const rc = await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC (seeded: the same on every run)', 0x9000);
  const init = await x.send('sam', A.authInit(CSN, rc), 'AUTH INIT: the SAM answers RS ‖ S_sam', 0x9000);
  const sCard = await x.send(
    'card',
    A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1),
    'MUTUAL AUTHENTICATE (purse-spec §3.4): the card checks S_sam and answers S_card',
    0x9000,
  );
  await x.send('sam', A.authFinish(sCard), 'AUTH FINISH: the SAM checks S_card', 0x9000);
}

/** The card-to-SVM transfer of purse-spec §6 after authentication; returns nothing. */
async function transfer(x: FlowContext, amount: number, counter: number): Promise<void> {
  await x.send('svm', A.readState(), 'READ STATE of the SVM: balance, counter, no pending transfer', 0x9000);
  const rv = await x.send('svm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV', 0x9000);
  const auth = await x.send(
    'sam',
    A.transferAuth(1, amount, counter, NOW, rv),
    'TRANSFER AUTH: the SAM MACs the debit (for the card) and the begin (for the SVM)',
    0x9000,
  );
  await x.send(
    'svm',
    A.beginTransfer(CSN, 1, amount, counter, NOW, auth.subarray(8, 16)),
    'BEGIN TRANSFER: the SVM reserves the amount and keeps the transfer pending',
    0x9000,
  );
  const d = await x.send(
    'card',
    A.debit(1, amount, TERMINAL_ID, NOW, rv, auth.subarray(0, 8)),
    `DEBIT ${amount / 100}: balance after ‖ counter ‖ proof under K_proof`,
    0x9000,
  );
  await x.send(
    'svm',
    A.completeTransfer(u32(d, 0), d.subarray(6, 14)),
    'COMPLETE TRANSFER with the card proof: the SVM credits and logs',
    0x9000,
  );
}

/** A LOAD as a vending point sends it (purse-spec §7): the credit key, the card's challenge. */
async function vendingLoad(x: FlowContext, purse: number, amount: number, counter: number): Promise<Uint8Array> {
  const c = x.world.issuer.crypto;
  const rc = await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC for the credit session key', 0x9000);
  const sk = c.creditSessionKey(x.world.issuer.cardKeys(CSN, purse).credit, rc);
  const t = { csn: CSN, purse, amount, counter, terminalId: VENDING_TERMINAL, dateTime: NOW };
  const cmd = A.load(purse, amount, VENDING_TERMINAL, NOW, c.mac(sk, loadMacInput(t)));
  await x.send('card', cmd, `LOAD ${amount / 100} onto purse ${purse} (MAC under SK_credit over RC)`, 0x9000);
  return cmd.encode();
}

function meterData(): Uint8Array {
  return new MeterData({
    meterId: METER_ID,
    purse: 1,
    dateTime: NOW,
    cumulative: 1_234_567,
    tariffRegisters: [800_000, 400_000, 34_567, 0],
    sinceLastCredit: 5_432,
    lastTransferKind: 1,
    lastTransferRef: concatBytes(CSN, Uint8Array.of(0, 1)),
    emergencyLimit: 500,
    emergencyUsed: 0,
    tariffPrices: [21, 14, 9, 0],
    events: 0x0001,
  }).encode();
}

/** Host session of seed 000 (purse-spec §4): HOST INIT, HOST COMMAND 51, SVM HOST CREDIT, HOST FINISH. */
async function hostValueStore(x: FlowContext, amount: number, txId: Uint8Array): Promise<void> {
  const c = x.world.issuer.crypto;
  const host = new HostSide(c.cipher);
  const kt1 = deriveTerminalKey(c.cipher, x.world.issuer.utility(1).host[1]![1], METER_ID);
  const r1 = fromHex('0102030405060708');
  const r2 = fromHex('1112131415161718');
  const ks = host.sessionKey(kt1, r1);
  const init = await x.send(
    'sam',
    A.hostInit(1, r1, r2),
    'HOST INIT with KT[1]: R1 (the host key exchange) ‖ R2 → S1t ‖ R3',
    0x9000,
  );
  const r3 = init.slice(8, 16);
  const rv = await x.send('svm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV for HOST CREDIT', 0x9000);
  const en = host.encryptAmount(ks, amount, txId);
  const auth = await x.send(
    'sam',
    A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r3, en), rv)),
    'HOST COMMAND 51 (value store): EnAmnt ‖ S2h ‖ RV → the SVM authorisation',
    0x9000,
  );
  const answer = await x.send(
    'svm',
    A.hostCredit(amount, txId, auth.subarray(12, 20), r3),
    `HOST CREDIT ${amount / 100} with the SAM's authorisation: the SVM credits and answers over R3`,
    0x9000,
  );
  await x.send('sam', A.hostFinish(0x51, answer), 'HOST FINISH 51: the SAM checks the SVM answer, M for the host', 0x9000);
}

/** A CLA 80 command of the personalisation channel (docs/personalisation.md §2, §3). */
function p80(ins: number, p1: number, p2: number, data?: Uint8Array, ne?: number): CommandApdu {
  return new CommandApdu({ cla: 0x80, ins, p1, p2, data, ne });
}
const hx = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
/** The same bytes with the last one changed (a wrong MAC / cryptogram / KCV). */
function flipLast(b: Uint8Array): Uint8Array {
  const o = b.slice();
  o[o.length - 1]! ^= 0x01;
  return o;
}
const MKC_VERIFY = (pin: string) => new CommandApdu({ cla: 0x00, ins: 0x20, p1: 0, p2: 0x81, data: mkcPinBlock(pin) });

/** Commissioning-domain authentication of the installer card at the SAM (AUTH INIT P1 = 01). */
async function authenticateCommissioning(x: FlowContext): Promise<void> {
  const rc = await x.send('comcard', A.getChallenge(), 'GET CHALLENGE of the commissioning card: RC', 0x9000);
  const init = await x.send(
    'sam',
    A.authInit(COM_CSN, rc, AUTH_COMMISSIONING),
    'AUTH INIT P1 = 01 (commissioning domain, K_comm from MK_comm): RS ‖ S_sam',
    0x9000,
  );
  const sCard = await x.send(
    'comcard',
    A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), 1),
    'MUTUAL AUTHENTICATE for utility 01: S_card, SK_comm kept for one COMMISSION',
    0x9000,
  );
  await x.send('sam', A.authFinish(sCard), 'AUTH FINISH: the SAM checks S_card', 0x9000);
}

/** COMMISSION 80 5E P1 00 03 meter id 00. */
const commission = (meterId: Uint8Array, p1 = 0) => new CommandApdu({ cla: 0x80, ins: 0x5e, p1, p2: 0, data: meterId, ne: 256 });
/** COMMISSION CHECK 80 1A 00 00 Lc payload ‖ MAC. */
const commissionCheck = (answer: Uint8Array) => new CommandApdu({ cla: 0x80, ins: 0x1a, p1: 0, p2: 0, data: answer });

/**
 * GET CHALLENGE at the chip, PERSO OPEN at the MKC, EXTERNAL AUTHENTICATE at the chip, PERSO AUTH
 * at the MKC: an authenticated session for `subject` (docs/personalisation.md §2).
 */
async function persoSession(x: FlowContext, subject: Uint8Array = PERSO_ORDER.csn): Promise<void> {
  const rt = await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE of the chip: RT', 0x9000);
  const open = await x.send(
    'mkc',
    p80(0x70, 0x01, 0, concatBytes(ICSN, Uint8Array.of(TKV), rt, subject), 256),
    'PERSO OPEN subscriber: ICSN ‖ tkv ‖ RT ‖ subject (CSN) → RM ‖ host cryptogram',
    0x9000,
  );
  const card = await x.send(
    'chip',
    p80(0x82, 0, 0, concatBytes(open.subarray(0, 8), subject, open.subarray(8, 16)), 256),
    'EXTERNAL AUTHENTICATE: RM ‖ subject ‖ host cryptogram → card cryptogram',
    0x9000,
  );
  await x.send('mkc', p80(0x72, 0, 0, card), 'PERSO AUTH with the card cryptogram: the MAC chain starts', 0x9000);
}

/** PERSO KEY at the MKC then PUT KEY at the chip, for each key of the order. */
async function persoKeys(x: FlowContext): Promise<void> {
  for (const id of keyIdsOf(PERSO_ORDER)) {
    const k = await x.send('mkc', p80(0x74, 0, id, undefined, 256), `PERSO KEY ${hx(id)}: version ‖ E(SK_enc, key) ‖ KCV ‖ MAC`, 0x9000);
    await x.send('chip', p80(0xd8, k[0]!, id, k.subarray(1)), `PUT KEY ${hx(id)} (staged until SET STATUS 05)`, 0x9000);
  }
}

/** PERSO PIN, then PERSO DATA / STORE DATA for every block of the order's data. */
async function persoData(x: FlowContext): Promise<void> {
  const pin = await x.send('mkc', p80(0x78, 0, 0, mkcPinBlock(PERSO_ORDER.pin!), 256), 'PERSO PIN: the cardholder PIN block under SK_enc', 0x9000);
  const data = storeDataOf(PERSO_ORDER, pin);
  const blocks = Math.ceil(data.length / STORE_DATA_BLOCK);
  for (let b = 0; b < blocks; b++) {
    const part = data.subarray(b * STORE_DATA_BLOCK, (b + 1) * STORE_DATA_BLOCK);
    const p1 = b === blocks - 1 ? 0x80 : 0x00;
    const mac = await x.send('mkc', p80(0x76, p1, b, part, 256), `PERSO DATA block ${b}: the MAC of the chip's STORE DATA`, 0x9000);
    await x.send('chip', p80(0xe2, p1, b, concatBytes(part, mac)), `STORE DATA block ${b}${p1 ? ' (last)' : ''}`, 0x9000);
  }
}

/** PERSO CLOSE, SET STATUS, PERSO RECEIPT for life-cycle state `lcs`. */
async function persoClose(x: FlowContext, lcs: number, what: string): Promise<void> {
  const mac = await x.send('mkc', p80(0x7a, 0, lcs, undefined, 256), `PERSO CLOSE ${hx(lcs)}: the MAC of SET STATUS ${hx(lcs)}`, 0x9000);
  const receipt = await x.send('chip', p80(0xf0, 0, lcs, mac, 256), `SET STATUS ${hx(lcs)}: ${what}; the chip answers its receipt`, 0x9000);
  await x.send('mkc', p80(0x7c, 0, 0, receipt), 'PERSO RECEIPT: the MKC checks the receipt, the session ends', 0x9000);
}

/** What each command of the bureau's personalisation is, for the comment above it. */
function describePerso(c: CommandApdu): string {
  if (c.cla === 0x00 && c.ins === 0xa4) return 'SELECT by AID (FCI: LCS, serial)';
  if (c.cla === 0x00 && c.ins === 0x20) return 'VERIFY the MKC PIN';
  const names: Record<number, string> = {
    0xca: 'GET DATA: LCS, issue counter, sealed slots and KCVs',
    0x84: 'GET CHALLENGE of the chip: RT',
    0x70: 'PERSO OPEN: ICSN ‖ tkv ‖ RT ‖ subject → RM ‖ host cryptogram',
    0x82: 'EXTERNAL AUTHENTICATE: RM ‖ subject ‖ host cryptogram → card cryptogram',
    0x72: 'PERSO AUTH: the card cryptogram; the MAC chain starts',
    0x74: `PERSO KEY ${hx(c.p2)}: version ‖ E(SK_enc, key) ‖ KCV ‖ MAC`,
    0xd8: `PUT KEY ${hx(c.p2)} (version ${hx(c.p1)})`,
    0x78: 'PERSO PIN: the cardholder PIN block under SK_enc',
    0x76: `PERSO DATA block ${c.p2}: the MAC of the chip's STORE DATA`,
    0xe2: `STORE DATA block ${c.p2}${c.p1 === 0x80 ? ' (last)' : ''}`,
    0x7a: `PERSO CLOSE ${hx(c.p2)}: the MAC of SET STATUS (the issue counter + 1)`,
    0xf0: `SET STATUS ${hx(c.p2)}: one commit of keys, data and LCS; the receipt`,
    0x7c: 'PERSO RECEIPT: the MKC checks the receipt, the session ends',
  };
  return names[c.ins] ?? `CLA ${hx(c.cla)} INS ${hx(c.ins)}`;
}

/** The EF a READ / UPDATE RECORD P2 (SFI << 3 | 4) names on the subscriber card. */
function sfiName(p2: number): string {
  const names: Record<number, string> = {
    0x0c: 'the log (SFI 01)',
    0x14: 'the meter data (SFI 02)',
    0x1c: 'the offline configuration (SFI 03)',
    0x24: 'the offline readings (SFI 04)',
  };
  return names[p2] ?? `P2 ${hx(p2)}`;
}

/** What each command a meter sends is, by channel role, for the comment above it. */
function describeMeter(c: CommandApdu, role: ChannelRole): string {
  if (c.cla === 0x00 && c.ins === 0xa4) {
    const aid = toHex(c.dataView());
    if (aid === toHex(AID_PURSE)) return 'SELECT the purse application (the slot tries it first: FCI, or 6A82 on a card without one)';
    if (aid === 'F04D50434F4D01') return 'SELECT the commissioning application';
    if (aid === toHex(AID_SAM)) return 'SELECT the SAM application (FCI: meter id, terminal id)';
    if (aid === toHex(AID_SVM)) return 'SELECT the SVM application';
    return `SELECT ${aid}`;
  }
  const names: Record<ChannelRole, Record<number, string>> = {
    card: {
      0x84: 'GET CHALLENGE: RC',
      0x82: 'MUTUAL AUTHENTICATE: RS ‖ S_sam → S_card',
      0x5c: `READ PURSE ${c.p2}${c.nc ? ' signed over RV' : ''}`,
      0x5e: 'COMMISSION for this meter: payload ‖ MAC(SK_comm)',
      0x54: 'DEBIT: balance after ‖ counter ‖ proof under K_proof',
      0xb2: `READ RECORD ${c.p1} of ${sfiName(c.p2)}`,
      0xdc: `UPDATE RECORD ${c.p1} of ${sfiName(c.p2)}${c.p2 === 0x24 ? ' (signed by the SAM)' : ' of this purse'}`,
      0x56: `REMOTE LOAD seq ${c.nc >= 8 ? u32(c.dataView(), 0) : '?'} of ${c.nc >= 8 ? (u32(c.dataView(), 4) / 100).toFixed(2) : '?'} for purse ${hx(c.p2)} (queued for this card; MAC under the utility's K_remote)`,
      0x58: `PUT CONFIG for purse ${hx(c.p2)} (queued for this card)`,
      0x5a: `CLEAR READINGS for purse ${hx(c.p2)} (queued for this card)`,
    },
    sam: {
      0x10: `AUTH INIT${c.p1 === 1 ? ' P1 = 01 (commissioning domain, K_comm)' : ''}: RS ‖ S_sam`,
      0x12: 'AUTH FINISH: the SAM checks S_card',
      0x1a: 'COMMISSION CHECK: the SAM vouches for the payload before the meter applies it',
      0x14: 'TRANSFER AUTH: DEBIT MAC ‖ SVM authorisation',
      0x18: 'TOKEN AUTH: the core asks units for the next SVM counter, its MAC under K_core',
      0x1c: "CONFIG CHECK: the card's offline configuration (SFI 03) is for this meter, its meter MAC under K_offline",
      0x1e: 'SIGN READINGS: the MAC under K_offline of the readings record (SFI 04)',
    },
    svm: {
      0x5c:
        c.p1 === 2
          ? 'READ STATE P1 = 02: the state signed for the meter core over its challenge'
          : c.p1 === 1
            ? 'READ STATE P1 = 01: the state signed over RV'
            : 'READ STATE: balance, counter, pending transfer',
      0x84: 'GET CHALLENGE: RV',
      0x30: 'BEGIN TRANSFER: the amount reserved, the transfer pending',
      0x32: 'COMPLETE TRANSFER with the card proof: credited',
      0x36: 'CANCEL TRANSFER',
      0x40: 'TOKEN REQUEST: the grant (units ‖ balance ‖ MAC under K_core)',
    },
  };
  return names[role][c.ins] ?? `${role}: CLA ${hx(c.cla)} INS ${hx(c.ins)} P1 ${hx(c.p1)} P2 ${hx(c.p2)}`;
}

// ---- Issue 17 (purse-spec §13): the card as the offline meters' link --------------------------

/** The gas utility's purse, its seller id ("GAS1") and the second card's CSN. */
const GAS = 2;
const SELLER = fromHex('47415331');
const PIN_CSN = fromHex('4D50000000000002');

/** A remote load of the gas purse of the world's card. */
const gasLoad = (seq: number, amount: number, o: Partial<RemoteLoadFields> = {}): RemoteLoadFields => ({
  csn: CSN,
  purse: GAS,
  seq,
  amount,
  sellerId: SELLER,
  dateTime: NOW,
  ...o,
});

/**
 * REMOTE LOAD data `seq ‖ amount ‖ seller ‖ date-time ‖ MAC` with the utility's MAC made straight
 * from the issuer's keys (no argument checks: seq 0, amount 0 and a date-time that is not BCD get a
 * right MAC too, so the card's own checks are what refuses them).
 */
function remoteData(x: FlowContext, f: RemoteLoadFields): Uint8Array {
  const mac = x.world.issuer.crypto.mac(x.world.issuer.remoteKey(f.csn, f.purse), remoteLoadMacInput(f));
  return concatBytes(be32(f.seq), be32(f.amount), f.sellerId, f.dateTime, mac);
}

/** REMOTE LOAD / PUT CONFIG / CLEAR READINGS with any header and data (to reach each refusal). */
const raw80 = (ins: number, p1: number, p2: number, data: Uint8Array, ne?: number) =>
  new CommandApdu({ cla: 0x80, ins, p1, p2, data, ...(ne !== undefined ? { ne } : {}) });

/** The gas meter 000456's configuration for the world's card (KT version 1). */
const gasConfig = (version: number, o: Partial<OfflineConfigFields> = {}): OfflineConfigFields => ({
  meterId: GAS_METER_ID,
  purse: GAS,
  version,
  issued: NOW,
  emergencyLimit: 500,
  unitCharge: 110,
  blacklistVersion: 7,
  ktVersion: 1,
  ...o,
});

/** PUT CONFIG data `config ‖ card MAC` of `fields` for `csn`. */
function configData(x: FlowContext, fields: OfflineConfigFields, csn: Uint8Array = CSN): Uint8Array {
  const s = signOfflineConfig(x.world.issuer, csn, fields);
  return concatBytes(s.record, s.cardMac);
}

/** A reading of the gas meter 000456 (five tariff steps, the 300 % one included). */
const gasReading = (o: Partial<OfflineReadingFields> = {}): OfflineReading =>
  new OfflineReading({
    meterId: GAS_METER_ID,
    purse: GAS,
    sequence: 1,
    dateTime: NOW,
    cumulative: 24_000,
    sinceLastCredit: 24_000,
    emergencyUsed: 0,
    unitCharge: 110,
    configVersion: 2,
    events: OFFLINE_EVENT_POWER_FAILURE,
    stepRegisters: [9000, 6000, 1000, 6000, 2000],
    stepPercents: [50, 75, 100, 200, 300],
    ktVersion: 1,
    ...o,
  });

/** `b` with byte `at` set to `v` (a field changed after signing, or a wrong format byte). */
function withByte(b: Uint8Array, at: number, v: number): Uint8Array {
  const o = b.slice();
  o[at] = v;
  return o;
}

/** Mutual authentication of the world's card with the gas meter's SAM for the gas purse. */
async function authenticateGas(x: FlowContext): Promise<void> {
  const rc = await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
  const init = await x.send('gsam', A.authInit(CSN, rc), "AUTH INIT at the gas meter's SAM: RS ‖ S_sam", 0x9000);
  const sCard = await x.send(
    'card',
    A.mutualAuthenticate(init.subarray(0, 8), init.subarray(8, 16), GAS),
    'MUTUAL AUTHENTICATE for the gas purse 02: a SAM session for purse 02',
    0x9000,
  );
  await x.send('gsam', A.authFinish(sCard), 'AUTH FINISH', 0x9000);
}

/** Throws (the recording fails) unless `ok`. */
function expectFlow(ok: boolean, what: string): void {
  if (!ok) throw new Error(`apdu-traces: ${what}`);
}

export const FLOWS: Flow[] = [
  {
    name: 'flow-mutual-auth',
    description: 'purse-spec §3.4 mutual authentication of card and SAM, then READ PURSE under the session',
    devices: ['card', 'sam'],
    async run(x) {
      await authenticate(x);
      await x.send('card', A.readPurse(1), 'READ PURSE 1', 0x9000);
    },
  },
  {
    name: 'flow-transfer-svm',
    description:
      'card-to-SVM transfer (purse-spec worked example): authenticate, SVM challenge, TRANSFER AUTH, BEGIN, DEBIT, COMPLETE',
    devices: ['card', 'sam', 'svm'],
    async run(x) {
      await authenticate(x);
      await x.send('card', A.readPurse(1), 'READ PURSE 1', 0x9000);
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application', 0x9000);
      await transfer(x, 2500, 1);
      await x.send('svm', A.readState(), 'READ STATE: the value arrived', 0x9000);
    },
  },
  {
    name: 'cmd-purse',
    description:
      'every command of the purse applet (purse-spec §3), each success and refusal with the status word the spec gives',
    devices: ['card', 'sam', 'pincard'],
    async run(x) {
      // §3.2 SELECT
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse by AID: FCI (CSN, issuer, purses, key version)', 0x9000);
      await x.send('card', '00A4040008F04D50555253450200', 'SELECT an AID the card does not hold', 0x6a82);
      await x.send('card', '00A4050C023F00', 'SELECT with P1 = 05', 0x6a86);
      await x.send('card', '00A4000C023F00', 'SELECT the MF by its FID, no answer data', 0x9000);
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse again', 0x9000);
      // §3.3 GET CHALLENGE
      await x.send('card', '0084000108', 'GET CHALLENGE with P1-P2 ≠ 0000', 0x6a86);
      await x.send('card', '0084000004', 'GET CHALLENGE with Le ≠ 08', 0x6700);
      // §3.4 MUTUAL AUTHENTICATE
      await x.send('card', A.mutualAuthenticate(Z8, Z8, 1), 'MUTUAL AUTHENTICATE with no challenge', 0x6985);
      await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('card', '0082000108000000000000000008', 'MUTUAL AUTHENTICATE with Lc ≠ 16', 0x6700);
      await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('card', A.mutualAuthenticate(Z8, Z8, 0), 'MUTUAL AUTHENTICATE with P2 = 00', 0x6a86);
      await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('card', A.mutualAuthenticate(Z8, Z8, 9), 'MUTUAL AUTHENTICATE for purse 09 the card does not hold', 0x6a88);
      await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('card', A.mutualAuthenticate(Z8, Z8, 1), 'MUTUAL AUTHENTICATE with a wrong S_sam: no session', 0x6300);
      // §3.5 READ PURSE
      await x.send('card', A.readPurse(1), 'READ PURSE 1 (no session needed)', 0x9000);
      await x.send('card', A.readPurse(9), 'READ PURSE of a purse the card does not hold', 0x6a88);
      await x.send('card', '805C010100', 'READ PURSE with P1 ≠ 00', 0x6a86);
      await x.send('card', '805C00010400000000', 'READ PURSE with Lc not 0 or 8', 0x6700);
      // §3.6 DEBIT and §3.9 UPDATE RECORD need a SAM session
      await x.send('card', A.debit(1, 1, TERMINAL_ID, NOW, Z8, Z8), 'DEBIT without a SAM session', 0x6982);
      await x.send('card', A.debit(9, 1, TERMINAL_ID, NOW, Z8, Z8), 'DEBIT of a purse the card does not hold', 0x6a88);
      await x.send('card', A.updateMeterData(1, meterData()), 'UPDATE RECORD of meter data without a SAM session', 0x6982);
      // §3.7 LOAD
      await x.send('card', A.load(1, 1, VENDING_TERMINAL, NOW, Z8), 'LOAD without a challenge', 0x6985);
      await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('card', A.load(1, 100, VENDING_TERMINAL, NOW, Z8), 'LOAD with a wrong MAC', 0x6300);
      {
        const c = x.world.issuer.crypto;
        const rc = await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC for the credit session key', 0x9000);
        const sk = c.creditSessionKey(x.world.issuer.cardKeys(CSN, 1).credit, rc);
        const t = { csn: CSN, purse: 1, amount: 4_950_00, counter: 1, terminalId: VENDING_TERMINAL, dateTime: NOW };
        await x.send(
          'card',
          A.load(1, t.amount, VENDING_TERMINAL, NOW, c.mac(sk, loadMacInput(t))),
          'LOAD 4950.00 onto purse 1 (balance 100.00, max 5000.00), MAC right: over the maximum balance',
          0x9402,
        );
      }
      await vendingLoad(x, 2, 5000, 1);
      // §3.8 READ RECORD
      await x.send('card', A.readLogRecord(1), 'READ RECORD 1 of the log: the LOAD just made (newest first)', 0x9000);
      await x.send('card', A.readLogRecord(2), 'READ RECORD 2 of the log: the log is not that long', 0x6a83);
      await x.send('card', A.readMeterData(1), 'READ RECORD 1 of the meter data (empty record)', 0x9000);
      await x.send('card', '00B2012C00', 'READ RECORD of an SFI the card does not have (05)', 0x6a82);
      // a SAM session, then DEBIT and UPDATE RECORD
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application', 0x9000);
      await authenticate(x, false);
      await x.send('card', A.debit(1, 100, TERMINAL_ID, NOW, Z8, Z8), 'DEBIT with a wrong MAC: refused, the session ends', 0x6300);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticate(x, false);
      await x.send('card', A.updateMeterData(1, meterData()), 'UPDATE RECORD 1 (meter data of the session purse)', 0x9000);
      await x.send('card', A.updateMeterData(2, meterData()), "UPDATE RECORD 2: another utility's record", 0x6982);
      await x.send('card', '00DC01140400000000', 'UPDATE RECORD with Lc ≠ 72', 0x6700);
      await x.send('card', A.readMeterData(1), 'READ RECORD 1 of the meter data as written', 0x9000);
      // DEBIT refusals past the MAC check: the SAM MACs what it is asked (RV = 0, no SVM here)
      const over = await x.send('sam', A.transferAuth(1, 1_500_00, 1, NOW, Z8), 'TRANSFER AUTH of 1500.00 (RV 00…00)', 0x9000);
      await x.send(
        'card',
        A.debit(1, 1_500_00, TERMINAL_ID, NOW, Z8, over.subarray(0, 8)),
        'DEBIT 1500.00, MAC right: above the per-transaction limit 1000.00',
        0x9403,
      );
      const more = await x.send('sam', A.transferAuth(1, 200_00, 1, NOW, Z8), 'TRANSFER AUTH of 200.00', 0x9000);
      await x.send(
        'card',
        A.debit(1, 200_00, TERMINAL_ID, NOW, Z8, more.subarray(0, 8)),
        'DEBIT 200.00, MAC right: more than the balance 100.00',
        0x9401,
      );
      // §3.10 VERIFY / CHANGE REFERENCE DATA
      await x.send('card', A.verifyPin(pinBlock('1234')), 'VERIFY on a card without a PIN', 0x6a88);
      await x.send('pincard', A.selectAid(AID_PURSE), 'SELECT the purse of the second card (PIN "1234")', 0x9000);
      await x.send('pincard', A.verifyPin(), 'VERIFY without data: tries left', 0x63c3);
      await x.send('pincard', A.verifyPin(pinBlock('9999')), 'VERIFY a wrong PIN: two tries left', 0x63c2);
      await x.send('pincard', '0020000208' + toHex(pinBlock('1234')), 'VERIFY with P1-P2 ≠ 0001', 0x6a86);
      await x.send('pincard', A.verifyPin(pinBlock('1234')), 'VERIFY the right PIN: tries reset, verified', 0x9000);
      await x.send(
        'pincard',
        '0024000110' + toHex(pinBlock('1234')) + '3132FFFFFFFFFFFF',
        'CHANGE REFERENCE DATA to a 2-digit PIN: refused, no try spent',
        0x6a80,
      );
      await x.send('pincard', A.changePin(pinBlock('1234'), pinBlock('567890')), 'CHANGE REFERENCE DATA to "567890"', 0x9000);
      await x.send('pincard', A.verifyPin(pinBlock('567890')), 'VERIFY the new PIN', 0x9000);
      await x.send('pincard', A.getChallenge(), 'GET CHALLENGE of the second card: RC', 0x9000);
      await x.send(
        'pincard',
        A.load(2, 100, VENDING_TERMINAL, NOW, Z8),
        'LOAD onto its gas purse, whose counter is FFFF (a lab write before the trace): exhausted, checked before the MAC',
        0x9404,
      );
      // neither class nor instruction known
      await x.send('card', '00EE000000', 'an instruction the purse does not know', 0x6d00);
    },
  },
  {
    name: 'cmd-sam',
    description: 'every command of the SAM applet (purse-spec §4), each success and refusal',
    devices: ['card', 'sam', 'svm'],
    async run(x) {
      const c = x.world.issuer.crypto;
      const kCore = x.world.issuer.coreKey(METER_ID, 1);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application (FCI: meter id, terminal id, KT versions)', 0x9000);
      await x.send('sam', A.authFinish(Z8), 'AUTH FINISH without AUTH INIT', 0x6985);
      await x.send('sam', '80100000080000000000000000', 'AUTH INIT with Lc ≠ 16', 0x6700);
      await x.send('sam', A.transferAuth(1, 100, 1, NOW, Z8), 'TRANSFER AUTH without an authenticated card', 0x6982);
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse', 0x9000);
      const rc = await x.send('card', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('sam', A.authInit(CSN, rc), 'AUTH INIT for the card: RS ‖ S_sam', 0x9000);
      await x.send('sam', A.authFinish(Z8), 'AUTH FINISH with a wrong S_card: the session is dropped', 0x6300);
      await authenticate(x, false);
      await x.send(
        'sam',
        commissionCheck(new Uint8Array(16)),
        "COMMISSION CHECK in a subscriber card's session: never qualifies (cmd-commissioning.trace has the rest)",
        0x6982,
      );
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application', 0x9000);
      const rv = await x.send('svm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV', 0x9000);
      await x.send('sam', A.transferAuth(2, 100, 1, NOW, rv), 'TRANSFER AUTH for purse 02: not the SAM\'s utility', 0x6a88);
      await x.send('sam', A.transferAuth(1, 0, 1, NOW, rv), 'TRANSFER AUTH of amount 0', 0x6a80);
      await x.send('sam', A.transferAuth(1, 100, 1, NOW, rv), 'TRANSFER AUTH: DEBIT MAC ‖ SVM authorisation', 0x9000);
      // TOKEN AUTH
      await x.send('sam', A.tokenAuth(100, 1, Z8), 'TOKEN AUTH with a wrong core MAC', 0x6300);
      await x.send('sam', A.tokenAuth(0, 1, c.mac(kCore, tokenCoreInput(METER_ID, 0, 1))), 'TOKEN AUTH of 0 units', 0x6a80);
      await x.send(
        'sam',
        A.tokenAuth(100, 1, c.mac(kCore, tokenCoreInput(METER_ID, 100, 1))),
        'TOKEN AUTH of 100 units, SVM counter 1, core MAC under K_core',
        0x9000,
      );
      // HOST INIT / COMMAND / FINISH
      await x.send('sam', A.hostCommand(0x51, new Uint8Array(32)), 'HOST COMMAND without HOST INIT', 0x6982);
      await x.send('sam', A.hostInit(7, Z8, Z8), 'HOST INIT with a KT version the SAM does not hold', 0x6a88);
      await x.send('sam', A.hostInit(1, Z8, Z8), 'HOST INIT with KT[1]: S1t ‖ R3', 0x9000);
      await x.send('sam', A.hostFinish(0x51, new Uint8Array(25)), 'HOST FINISH before any HOST COMMAND', 0x6985);
      await x.send('sam', A.hostCommand(0x5f, new Uint8Array(32)), 'HOST COMMAND with an H the SAM does not know', 0x6a86);
      await x.send('sam', A.hostCommand(0x51, new Uint8Array(32)), 'HOST COMMAND with a wrong S2h: the host session ends', 0x6300);
      await x.send('sam', '80EE000000', 'an instruction the SAM does not know', 0x6d00);
    },
  },
  {
    name: 'cmd-svm',
    description: 'every command of the SVM applet (purse-spec §5), each success and refusal',
    devices: ['card', 'sam', 'svm'],
    async run(x) {
      const c = x.world.issuer.crypto;
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application (FCI)', 0x9000);
      await x.send('svm', A.readState(), 'READ STATE: balance 0, counter 0, nothing pending', 0x9000);
      await x.send('svm', A.beginTransfer(CSN, 1, 100, 1, NOW, Z8), 'BEGIN TRANSFER without a challenge', 0x6985);
      await x.send('svm', A.completeTransfer(0, Z8), 'COMPLETE TRANSFER with nothing pending', 0x9406);
      await x.send('svm', A.cancelWithStatus(0, 0, Z8), 'CANCEL TRANSFER without a challenge', 0x6985);
      await x.send('svm', A.tokenRequest(100, 1, Z8), 'TOKEN REQUEST with a wrong SAM MAC', 0x6300);
      await x.send('svm', A.hostCredit(100, Z8, Z8, Z8), 'HOST CREDIT without a challenge', 0x6985);
      {
        const kCore = x.world.issuer.coreKey(METER_ID, 1);
        await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application', 0x9000);
        const m1 = await x.send(
          'sam',
          A.tokenAuth(100, 1, c.mac(kCore, tokenCoreInput(METER_ID, 100, 1))),
          'TOKEN AUTH of 100 units for SVM counter 1',
          0x9000,
        );
        await x.send('svm', A.tokenRequest(100, 1, m1), 'TOKEN REQUEST with the SVM balance 0', 0x9401);
      }
      const rv0 = await x.send('svm', A.getChallenge(), 'GET CHALLENGE: RV', 0x9000);
      await x.send('svm', A.readStateSigned(rv0), 'READ STATE P1 = 01: the state signed over a host challenge', 0x9000);
      await x.send('svm', A.beginTransfer(CSN, 1, 100, 1, NOW, Z8), 'BEGIN TRANSFER with a wrong authorisation', 0x6300);
      // a transfer to give the SVM a balance
      await authenticate(x);
      await transfer(x, 2500, 1);
      await x.send('svm', A.completeTransfer(0, Z8), 'COMPLETE TRANSFER again: nothing pending any more', 0x9406);
      // TOKEN REQUEST
      const kCore = x.world.issuer.coreKey(METER_ID, 1);
      const mac = await x.send(
        'sam',
        A.tokenAuth(100, 2, c.mac(kCore, tokenCoreInput(METER_ID, 100, 2))),
        'TOKEN AUTH of 100 units for SVM counter 2',
        0x9000,
      );
      const mac3 = await x.send(
        'sam',
        A.tokenAuth(100, 3, c.mac(kCore, tokenCoreInput(METER_ID, 100, 3))),
        'TOKEN AUTH of 100 units for SVM counter 3',
        0x9000,
      );
      await x.send('svm', A.tokenRequest(100, 3, mac3), 'TOKEN REQUEST with counter 3 ≠ current + 1', 0x6a80);
      await x.send('svm', A.tokenRequest(100, 2, mac), 'TOKEN REQUEST: the grant (units ‖ balance ‖ MAC)', 0x9000);
      await x.send('svm', A.tokenRequest(100, 2, mac), 'TOKEN REQUEST replayed', 0x9407);
      await x.send('svm', A.readState(), 'READ STATE: balance 25.00 − 1.00, counter 2', 0x9000);
      // BEGIN TRANSFER refusals past the MAC check
      const rvMax = await x.send('svm', A.getChallenge(), 'GET CHALLENGE: RV', 0x9000);
      const big = await x.send('sam', A.transferAuth(1, 990_00, 2, NOW, rvMax), 'TRANSFER AUTH of 990.00 (card counter 2)', 0x9000);
      await x.send(
        'svm',
        A.beginTransfer(CSN, 1, 990_00, 2, NOW, big.subarray(8, 16)),
        'BEGIN TRANSFER of 990.00 onto 24.00, MAC right: above the SVM maximum 1000.00',
        0x9402,
      );
      const rvP = await x.send('svm', A.getChallenge(), 'GET CHALLENGE: RV', 0x9000);
      const small = await x.send('sam', A.transferAuth(1, 100, 2, NOW, rvP), 'TRANSFER AUTH of 1.00', 0x9000);
      await x.send('svm', A.beginTransfer(CSN, 1, 100, 2, NOW, small.subarray(8, 16)), 'BEGIN TRANSFER of 1.00: pending', 0x9000);
      const rv2 = await x.send('svm', A.getChallenge(), 'GET CHALLENGE: RV', 0x9000);
      const again = await x.send('sam', A.transferAuth(1, 100, 3, NOW, rv2), 'TRANSFER AUTH of 1.00 (card counter 3)', 0x9000);
      await x.send(
        'svm',
        A.beginTransfer(CSN, 1, 100, 3, NOW, again.subarray(8, 16)),
        'BEGIN TRANSFER while one is pending',
        0x9405,
      );
      await x.send('svm', '80EE000000', 'an instruction the SVM does not know', 0x6d00);
    },
  },
  {
    name: 'cmd-svm-exhausted',
    description:
      "the SVM's terminal state (purse-spec §5 \"Counter exhaustion\"): an SVM of the world's meter (chip esvm, balance 25.00) whose counter a lab write set to FFFFFFFF before the trace (no APDU can); BEGIN TRANSFER, HOST CREDIT and TOKEN REQUEST, each authorised right, refused 9404 before anything changes (no pending transfer, the card not debited); READ STATE plain and signed still answer",
    devices: ['card', 'sam', 'esvm'],
    async run(x) {
      const c = x.world.issuer.crypto;
      await x.send('esvm', A.selectAid(AID_SVM), 'SELECT the SVM application (FCI: the world meter 000123)', 0x9000);
      await x.send(
        'esvm',
        A.readState(),
        'READ STATE: balance 25.00, counter FFFFFFFF (the lab write before the trace), nothing pending',
        0x9000,
      );
      // BEGIN TRANSFER: every check before the counter passes (RV, MAC, date-time, purse, amount)
      await authenticate(x);
      await x.send('card', A.readPurse(1), 'READ PURSE 1: balance 100.00, counter 0', 0x9000);
      const rv = await x.send('esvm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV', 0x9000);
      const auth = await x.send(
        'sam',
        A.transferAuth(1, 1000, 1, NOW, rv),
        'TRANSFER AUTH of 10.00 (card counter 1) over RV',
        0x9000,
      );
      await x.send(
        'esvm',
        A.beginTransfer(CSN, 1, 1000, 1, NOW, auth.subarray(8, 16)),
        'BEGIN TRANSFER of 10.00, MAC right: the SVM counter is exhausted, refused before the reservation (its COMPLETE could not move the counter)',
        0x9404,
      );
      await x.send('esvm', A.readState(), 'READ STATE: nothing pending, balance and counter unchanged', 0x9000);
      await x.send('card', A.readPurse(1), 'READ PURSE 1: the terminal never sends the DEBIT, the card keeps 100.00', 0x9000);
      // HOST CREDIT: a host session of seed 000 as in flow-host-value-store, the SAM's authorisation right
      {
        const host = new HostSide(c.cipher);
        const kt1 = deriveTerminalKey(c.cipher, x.world.issuer.utility(1).host[1]![1], METER_ID);
        const r1 = fromHex('0102030405060708');
        const ks = host.sessionKey(kt1, r1);
        const init = await x.send('sam', A.hostInit(1, r1, fromHex('1112131415161718')), 'HOST INIT with KT[1]: S1t ‖ R3', 0x9000);
        const r3 = init.slice(8, 16);
        const rvh = await x.send('esvm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV for HOST CREDIT', 0x9000);
        const txId = fromHex('0000000000004242');
        const en = host.encryptAmount(ks, 20_000, txId);
        const ha = await x.send(
          'sam',
          A.hostCommand(0x51, concatBytes(en, host.s2(ks, 0x51, r3, en), rvh)),
          'HOST COMMAND 51 (value store 200.00): the SVM authorisation over RV',
          0x9000,
        );
        await x.send(
          'esvm',
          A.hostCredit(20_000, txId, ha.subarray(12, 20), r3),
          'HOST CREDIT 200.00, MAC right, a new tx id: refused before the credit (no answer for HOST FINISH)',
          0x9404,
        );
      }
      // TOKEN REQUEST: the next counter would pass FFFFFFFF; the core's request for counter
      // FFFFFFFF is refused 9404 before the replay check (9407) could answer
      {
        const kCore = x.world.issuer.coreKey(METER_ID, 1);
        const mac = await x.send(
          'sam',
          A.tokenAuth(100, SVM_COUNTER_MAX, c.mac(kCore, tokenCoreInput(METER_ID, 100, SVM_COUNTER_MAX))),
          'TOKEN AUTH of 100 units for SVM counter FFFFFFFF',
          0x9000,
        );
        await x.send(
          'esvm',
          A.tokenRequest(100, SVM_COUNTER_MAX, mac),
          'TOKEN REQUEST of 100 units, MAC right: refused before any grant, the balance stays',
          0x9404,
        );
      }
      // the terminal state: the issuer can still read the balance to move it to a replacement SVM
      const rvs = await x.send('esvm', A.getChallenge(), 'GET CHALLENGE: RV', 0x9000);
      await x.send('esvm', A.readStateSigned(rvs), 'READ STATE P1 = 01 signed over RV: still answers (balance 25.00, counter FFFFFFFF)', 0x9000);
      await x.send('esvm', A.readState(), 'READ STATE: balance 25.00, counter FFFFFFFF, nothing pending — nothing changed', 0x9000);
    },
  },
  {
    name: 'flow-vending-load',
    description: 'vending point LOAD (purse-spec §7): READ PURSE, GET CHALLENGE, LOAD under SK_credit, log record; a replayed LOAD is refused',
    devices: ['card'],
    async run(x) {
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse (FCI: CSN for the key diversification)', 0x9000);
      await x.send('card', A.readPurse(1), 'READ PURSE 1: balance 100.00, counter 0', 0x9000);
      const cmd = await vendingLoad(x, 1, 5000, 1);
      await x.send('card', A.readPurse(1), 'READ PURSE 1: balance 150.00, counter 1', 0x9000);
      await x.send('card', A.readLogRecord(1), 'READ RECORD 1 of the log: the LOAD with its MAC under K_proof', 0x9000);
      await x.send('card', CommandApdu.decode(cmd), 'the same LOAD replayed: the challenge was used up', 0x6985);
    },
  },
  {
    name: 'flow-transfer-recovery',
    description:
      'card-to-SVM transfer cut by a card pull after BEGIN TRANSFER (the card reset before DEBIT), then the recovery at the next insertion: READ PURSE signed over RV, CANCEL TRANSFER with the signed status',
    devices: ['card', 'sam', 'svm'],
    async run(x) {
      await authenticate(x);
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application', 0x9000);
      await x.send('svm', A.readState(), 'READ STATE of the SVM', 0x9000);
      const rv = await x.send('svm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV', 0x9000);
      const auth = await x.send('sam', A.transferAuth(1, 1000, 1, NOW, rv), 'TRANSFER AUTH of 10.00', 0x9000);
      await x.send('svm', A.beginTransfer(CSN, 1, 1000, 1, NOW, auth.subarray(8, 16)), 'BEGIN TRANSFER: pending', 0x9000);
      await x.reset('card', 'the card is pulled before DEBIT and put back: a reset, its session is gone');
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse after the reinsertion', 0x9000);
      await x.send(
        'card',
        A.debit(1, 1000, TERMINAL_ID, NOW, rv, auth.subarray(0, 8)),
        'the DEBIT of the cut session: no session any more',
        0x6982,
      );
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticate(x, false);
      await x.send('svm', A.readState(), 'READ STATE: a transfer is pending (the recovery starts)', 0x9000);
      const rv2 = await x.send('svm', A.getChallenge(), 'GET CHALLENGE of the SVM: RV for the signed status', 0x9000);
      const s = await x.send('card', A.readPurse(1, rv2), 'READ PURSE 1 signed over RV: the debit never happened', 0x9000);
      await x.send(
        'svm',
        A.cancelWithStatus(u32(s, 0), (s[14]! << 8) | s[15]!, s.subarray(17, 25)),
        'CANCEL TRANSFER with the signed status: counter < pending counter, the reservation is released',
        0x9000,
      );
      await x.send('svm', A.readState(), 'READ STATE: nothing pending, balance unchanged', 0x9000);
      await x.send('card', A.readPurse(1), 'READ PURSE 1: balance unchanged', 0x9000);
    },
  },
  {
    name: 'flow-token-request',
    description:
      'token request of the meter core (purse-spec §8): credit moved onto the SVM by a transfer, then TOKEN AUTH (core MAC under K_core) at the SAM and TOKEN REQUEST at the SVM',
    devices: ['card', 'sam', 'svm'],
    async run(x) {
      const c = x.world.issuer.crypto;
      await authenticate(x);
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application', 0x9000);
      await transfer(x, 2500, 1);
      const kCore = x.world.issuer.coreKey(METER_ID, 1);
      const st = await x.send('svm', A.readState(), 'READ STATE: the meter core reads the SVM counter', 0x9000);
      void st;
      const mac = await x.send(
        'sam',
        A.tokenAuth(100, 2, c.mac(kCore, tokenCoreInput(METER_ID, 100, 2))),
        'TOKEN AUTH: the core asks 100 units for SVM counter 2, its MAC under K_core; the SAM MACs the request',
        0x9000,
      );
      await x.send('svm', A.tokenRequest(100, 2, mac), 'TOKEN REQUEST: the SVM grants min(units, balance) with a grant MAC under K_core', 0x9000);
      await x.send('svm', A.readState(), 'READ STATE: balance 24.00, counter 2', 0x9000);
    },
  },
  {
    name: 'flow-host-value-store',
    description:
      'host value store through SAM and SVM (seed 000, purse-spec §4/§5): HOST INIT, HOST COMMAND 51 with the encrypted amount, SVM HOST CREDIT, HOST FINISH',
    devices: ['sam', 'svm'],
    async run(x) {
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application', 0x9000);
      await x.send('svm', A.selectAid(AID_SVM), 'SELECT the SVM application', 0x9000);
      await x.send('svm', A.readState(), 'READ STATE: balance 0', 0x9000);
      await hostValueStore(x, 20_000, fromHex('0000000000004242'));
      await x.send('svm', A.readState(), 'READ STATE: balance 200.00', 0x9000);
    },
  },
  {
    name: 'cmd-commissioning',
    description:
      'every command of the commissioning card (card/applets/commissioning) with the SAM side: SELECT, GET CHALLENGE, MUTUAL AUTHENTICATE (AUTH INIT P1 = 01), COMMISSION and the SAM COMMISSION CHECK, each success and refusal',
    devices: ['comcard', 'sam'],
    async run(x) {
      const other = fromHex('000999');
      await x.send('comcard', '00A4040007F04D50434F4D0100', 'SELECT the commissioning application: FCI (CSN, utility 01, 2 uses left)', 0x9000);
      await x.send('comcard', commission(METER_ID), 'COMMISSION without a session', 0x6982);
      await x.send('comcard', '0084000108', 'GET CHALLENGE with P1-P2 ≠ 0000', 0x6a86);
      await x.send('comcard', A.mutualAuthenticate(Z8, Z8, 1), 'MUTUAL AUTHENTICATE with no challenge', 0x6985);
      await x.send('comcard', A.mutualAuthenticate(Z8, Z8, 2), 'MUTUAL AUTHENTICATE for utility 02: the card holds no key of it', 0x6a88);
      await x.send('comcard', A.mutualAuthenticate(Z8, Z8, 0), 'MUTUAL AUTHENTICATE with P2 = 00', 0x6a86);
      await x.send('comcard', '0082000108000000000000000008', 'MUTUAL AUTHENTICATE with Lc ≠ 16', 0x6700);
      await x.send('comcard', A.getChallenge(), 'GET CHALLENGE: RC', 0x9000);
      await x.send('comcard', A.mutualAuthenticate(Z8, Z8, 1), 'MUTUAL AUTHENTICATE with a wrong S_sam: no session', 0x6300);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application', 0x9000);
      await x.send('sam', commissionCheck(new Uint8Array(16)), 'COMMISSION CHECK without an authenticated commissioning card', 0x6982);
      await x.send('sam', '801A000004000123FF', 'COMMISSION CHECK shorter than 4 + 8 bytes', 0x6700);
      await x.send('sam', A.authInit(COM_CSN, Z8, 2), 'AUTH INIT with P1 = 02 (neither subscriber nor commissioning)', 0x6a86);
      await authenticateCommissioning(x);
      await x.send('comcard', commission(METER_ID, 2), 'COMMISSION with P1 = 02', 0x6a86);
      await x.send('comcard', '805E0000020001', 'COMMISSION with Lc ≠ 3', 0x6700);
      await x.send('comcard', commission(METER_ID, 1), 'COMMISSION P1 = 01 (the meter wants a decommissioning payload): the card holds a commissioning one; the session ends', 0x6a88);
      await x.send('comcard', commission(METER_ID), 'COMMISSION again: the session ended with the refusal', 0x6982);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticateCommissioning(x);
      await x.send('comcard', commission(other), 'COMMISSION for meter 000999: the payload names another meter, no use spent', 0x6a80);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticateCommissioning(x);
      const answer = await x.send('comcard', commission(METER_ID), 'COMMISSION for the meter: payload ‖ MAC(SK_comm, "M" ‖ meter id ‖ payload); 1 use left', 0x9000);
      await x.send('sam', commissionCheck(flipLast(answer)), 'COMMISSION CHECK with a changed MAC: refused, the session ends', 0x6300);
      await x.send('sam', commissionCheck(answer), 'COMMISSION CHECK of the true answer after the refusal: no session any more', 0x6982);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticateCommissioning(x);
      const answer2 = await x.send('comcard', commission(METER_ID), 'COMMISSION: the last use (0 left)', 0x9000);
      await x.send('sam', commissionCheck(answer2), 'COMMISSION CHECK: the SAM vouches for the payload, the meter may apply it', 0x9000);
      await x.send('sam', A.selectAid(AID_SAM), 'SELECT the SAM application again', 0x9000);
      await authenticateCommissioning(x);
      await x.send('comcard', commission(METER_ID), 'COMMISSION with no use left', 0x6985);
      await x.send('comcard', '00A4040007F04D50434F4D0100', 'SELECT: the FCI shows 0 uses left', 0x9000);
      await x.send('comcard', '80EE000000', 'an instruction the commissioning card does not know', 0x6d00);
    },
  },
  {
    name: 'cmd-mkc',
    env: 'ceremony',
    description:
      'every command of the master-key card (docs/personalisation.md §3): SELECT, GET DATA, VERIFY, LOAD COMPONENT, SEAL, PERSO OPEN / AUTH / KEY / PIN / DATA / CLOSE / RECEIPT, CHANGE REFERENCE DATA, each success and refusal, the PIN blocked at the end; the seeded ceremony of test/bureau/persoExamples.ts, one blank chip',
    devices: ['mkc', 'chip'],
    async run(x) {
      const { files, manifest } = x.env.ceremony;
      const [f1, f2] = files as [ComponentFile, ComponentFile];
      const load = (slot: number, n: number, data: Uint8Array) => p80(0x50, slot, n, data);
      const comp = (f: ComponentFile, i: number) => {
        const c = f.components[i]!;
        return { slot: c.slot, data: concatBytes(c.component, c.kcv, Uint8Array.of(c.version)) };
      };
      const sealData = (m: Manifest) => concatBytes(...m.slots.map((s) => concatBytes(Uint8Array.of(s.slot), s.kcv)));
      await x.send('mkc', '00A4040007F04D504D4B430100', 'SELECT the MKC: FCI (LCS 03, serial, issue counter 0, 0 sealed slots)', 0x9000);
      await x.send('mkc', p80(0xca, 0, 0, undefined, 256), 'GET DATA (no PIN needed): LCS 03, counter 0, no slot', 0x9000);
      await x.send('mkc', '80CA010000', 'GET DATA with P1 ≠ 00', 0x6a86);
      const c0 = comp(f1, 0);
      await x.send('mkc', load(c0.slot, 1, c0.data), 'LOAD COMPONENT before VERIFY', 0x6982);
      await x.send('mkc', '0020008100', 'VERIFY without data: tries left', 0x63c3);
      await x.send('mkc', MKC_VERIFY('1357'), 'VERIFY a wrong PIN: two tries left', 0x63c2);
      await x.send('mkc', new CommandApdu({ cla: 0, ins: 0x20, p1: 0, p2: 0x01, data: mkcPinBlock(MKC_PIN) }), 'VERIFY with P2 ≠ 81', 0x6a86);
      await x.send('mkc', MKC_VERIFY(MKC_PIN), 'VERIFY the right PIN: tries reset', 0x9000);
      await x.send('mkc', load(c0.slot, 2, c0.data), `LOAD COMPONENT 2 of slot ${hx(c0.slot)} before component 1: out of order`, 0x6a86);
      await x.send('mkc', load(0xff, 1, c0.data), 'LOAD COMPONENT into slot FF (no such slot)', 0x6a86);
      await x.send('mkc', load(c0.slot, 1, flipLast(c0.data.subarray(0, 19))), 'LOAD COMPONENT with Lc ≠ 20', 0x6700);
      const badKcv = c0.data.slice();
      badKcv[16]! ^= 0x01;
      await x.send('mkc', load(c0.slot, 1, badKcv), 'LOAD COMPONENT whose KCV does not match: nothing kept', 0x6a80);
      await x.send('mkc', p80(0x70, 1, 0, new Uint8Array(25), 256), 'PERSO OPEN at LCS 03 (not sealed)', 0x6985);
      await x.send('mkc', p80(0x52, 0, 0, new Uint8Array(0)), 'SEAL with no slot listed (Lc = 0)', 0x6700);
      for (let i = 0; i < f1.components.length; i++) {
        const c = comp(f1, i);
        await x.send('mkc', load(c.slot, 1, c.data), `LOAD COMPONENT 1 (custodian 1) of slot ${hx(c.slot)}`, 0x9000);
      }
      await x.send('mkc', p80(0x52, 0, 0, sealData(manifest)), 'SEAL with one component per slot: a slot needs two, nothing changes', 0x6a80);
      for (let i = 0; i < f2.components.length; i++) {
        const c = comp(f2, i);
        await x.send('mkc', load(c.slot, 2, c.data), `LOAD COMPONENT 2 (custodian 2) of slot ${hx(c.slot)}`, 0x9000);
      }
      await x.send('mkc', p80(0xca, 0, 0, undefined, 256), 'GET DATA: every slot with 2 components, KCV 000000 until sealed', 0x9000);
      const wrong = sealData(manifest);
      wrong[1]! ^= 0x01;
      await x.send('mkc', p80(0x52, 0, 0, wrong), 'SEAL with a wrong KCV for the transport master: nothing changes', 0x6a80);
      await x.send('mkc', p80(0x52, 0, 0, sealData(manifest).subarray(4)), 'SEAL leaving a loaded slot out', 0x6a80);
      await x.send('mkc', p80(0x52, 0, 0, sealData(manifest)), 'SEAL: every key combined and checked against its KCV, LCS 05', 0x9000);
      await x.send('mkc', p80(0xca, 0, 0, undefined, 256), 'GET DATA: LCS 05, sealed slots with their KCVs', 0x9000);
      await x.send('mkc', load(c0.slot, 3, c0.data), 'LOAD COMPONENT after SEAL', 0x6985);
      await x.send('mkc', p80(0x52, 0, 0, sealData(manifest)), 'SEAL again', 0x6985);
      await x.send('mkc', p80(0x72, 0, 0, Z8), 'PERSO AUTH with no session', 0x6985);
      await x.send('mkc', p80(0x74, 0, 0x11, undefined, 256), 'PERSO KEY with no session', 0x6985);
      await x.send('mkc', p80(0x7c, 0, 0, Z8), 'PERSO RECEIPT with no session', 0x6985);
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT the blank chip (FCI: LCS 03, ICSN, tkv, kind)', 0x9000);
      const rt0 = await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE of the blank chip: RT', 0x9000);
      const openData = (icsn: Uint8Array, tkv: number, rt: Uint8Array, subject: Uint8Array) =>
        concatBytes(icsn, Uint8Array.of(tkv), rt, subject);
      await x.send('mkc', p80(0x70, 0x05, 0, openData(ICSN, TKV, rt0, PERSO_ORDER.csn), 256), 'PERSO OPEN of kind 05 (no such kind)', 0x6a86);
      await x.send('mkc', p80(0x70, 0x01, 0, openData(ICSN, TKV, rt0, PERSO_ORDER.csn).subarray(1), 256), 'PERSO OPEN with Lc one short', 0x6700);
      await x.send('mkc', p80(0x70, 0x01, 0, openData(ICSN, 2, rt0, PERSO_ORDER.csn), 256), 'PERSO OPEN with tkv 2: no transport master of that version', 0x6a88);
      await x.send(
        'mkc',
        p80(0x70, 0x02, 0, openData(ICSN, TKV, rt0, fromHex('090001230001')), 256),
        'PERSO OPEN of a SAM of utility 09: no keys of that utility',
        0x6a88,
      );
      const open = await x.send('mkc', p80(0x70, 0x01, 0, openData(ICSN, TKV, rt0, PERSO_ORDER.csn), 256), 'PERSO OPEN subscriber: RM ‖ host cryptogram', 0x9000);
      const card = await x.send(
        'chip',
        p80(0x82, 0, 0, concatBytes(open.subarray(0, 8), PERSO_ORDER.csn, open.subarray(8, 16)), 256),
        'EXTERNAL AUTHENTICATE: the chip checks the host cryptogram, answers its own',
        0x9000,
      );
      await x.send('mkc', p80(0x72, 0, 0, flipLast(card)), 'PERSO AUTH with a wrong card cryptogram: not a genuine chip, the session ends', 0x6300);
      await x.send('mkc', p80(0x74, 0, 0x11, undefined, 256), 'PERSO KEY after the refusal: no session', 0x6985);
      await persoSession(x);
      await x.send('mkc', p80(0x72, 0, 0, card), 'PERSO AUTH a second time', 0x6985);
      await x.send('mkc', p80(0x74, 0, 0x1f, undefined, 256), 'PERSO KEY 1F: no such key of a subscriber card', 0x6a88);
      await x.send('mkc', p80(0x74, 0, 0x21, undefined, 256), 'PERSO KEY 21: utility 02 is not on the MKC', 0x6a88);
      await x.send('mkc', p80(0x78, 0, 0, fromHex('0102030405060708'), 256), 'PERSO PIN of something that is not a PIN block', 0x6a80);
      await x.send('mkc', p80(0x76, 0x01, 0, fromHex('C0'), 256), 'PERSO DATA with P1 = 01', 0x6a86);
      await x.send('mkc', p80(0x7c, 0, 0, Z8), 'PERSO RECEIPT before PERSO CLOSE', 0x6985);
      await persoKeys(x);
      await persoData(x);
      await x.send('mkc', p80(0x7a, 0, 0x07, undefined, 256), 'PERSO CLOSE to LCS 07 (no such target)', 0x6a86);
      await persoClose(x, 0x05, 'personalised');
      await x.send('mkc', p80(0xca, 0, 0, undefined, 256), 'GET DATA: issue counter 1', 0x9000);
      const rt1 = await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE of the chip: RT', 0x9000);
      const clone = openData(fromHex('4943534E00000002'), TKV, rt1, PERSO_ORDER.csn);
      await x.send(
        'mkc',
        p80(0x70, 0x01, 0, clone, 256),
        'PERSO OPEN of the same CSN for another chip: opens (a management session of an issued card must), but no key will come out',
        0x9000,
      );
      await x.send(
        'mkc',
        p80(0x74, 0, 0x11, undefined, 256),
        'PERSO KEY before the chip proved its K_tr (and for a clone, 6A89 after it: test/attacks/personalisation-redteam)',
        0x6985,
      );
      // a life-cycle session (block) with a wrong receipt
      await persoSession(x);
      const mac = await x.send('mkc', p80(0x7a, 0, 0x04, undefined, 256), 'PERSO CLOSE 04 (block): no key handed out, no issue', 0x9000);
      await x.send('chip', p80(0xf0, 0, 0x04, mac, 256), 'SET STATUS 04: the card is blocked; its receipt', 0x9000);
      await x.send('mkc', p80(0x7c, 0, 0, Z8), 'PERSO RECEIPT with a wrong receipt: the MKC cannot tell the chip obeyed', 0x6300);
      // CHANGE REFERENCE DATA, then the PIN blocked
      const change = (a: string, b: string) =>
        new CommandApdu({ cla: 0, ins: 0x24, p1: 0, p2: 0x81, data: concatBytes(mkcPinBlock(a), mkcPinBlock(b)) });
      await x.send('mkc', change(MKC_PIN, '86420'), 'CHANGE REFERENCE DATA to "86420"', 0x9000);
      await x.send('mkc', MKC_VERIFY(MKC_PIN), 'VERIFY the old PIN: two tries left', 0x63c2);
      await x.send('mkc', MKC_VERIFY(MKC_PIN), 'VERIFY the old PIN again: one try left', 0x63c1);
      await x.send('mkc', MKC_VERIFY(MKC_PIN), 'VERIFY the old PIN a third time: no try left, the PIN is blocked', 0x6983);
      await x.send('mkc', MKC_VERIFY('86420'), 'VERIFY the right PIN: blocked, no try spent', 0x6983);
      await x.send('mkc', p80(0xca, 0, 0, undefined, 256), 'GET DATA still answers (nothing secret)', 0x9000);
      await x.send('mkc', '80EE000000', 'an instruction the MKC does not know', 0x6d00);
    },
  },
  {
    name: 'cmd-perso-gate',
    env: 'sealed',
    description:
      'the personalisation gate of a blank subscriber chip (docs/personalisation.md §1–2), driven by a sealed master-key card: blank FCI, application commands 6985 at LCS 03, GET CHALLENGE, EXTERNAL AUTHENTICATE right and wrong, PUT KEY with a wrong MAC, STORE DATA out of order, the personalisation, PUT KEY after it, block (6283) and terminate (6285)',
    devices: ['mkc', 'chip'],
    async run(x) {
      await x.send('mkc', '00A4040007F04D504D4B430100', 'SELECT the MKC (sealed before the trace)', 0x9000);
      await x.send('mkc', MKC_VERIFY(MKC_PIN), 'VERIFY the MKC PIN', 0x9000);
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT the blank chip: FCI 6F { 84 AID, 8A 03, A5 { C9 ICSN, CA tkv, CB kind } }', 0x9000);
      await x.send('chip', A.readPurse(1), 'READ PURSE on a blank chip: the application is not active', 0x6985);
      await x.send('chip', A.getChallenge(), 'GET CHALLENGE of the purse (CLA 00) on a blank chip', 0x6985);
      await x.send('chip', p80(0xd8, 1, 0x11, new Uint8Array(27)), 'PUT KEY without a session', 0x6985);
      await x.send('chip', p80(0xe2, 0x80, 0, new Uint8Array(9)), 'STORE DATA without a session', 0x6985);
      await x.send('chip', p80(0x84, 1, 0, undefined, 8), 'GET CHALLENGE with P1 ≠ 00', 0x6a86);
      await x.send('chip', p80(0x84, 0, 0, undefined, 4), 'GET CHALLENGE with Le ≠ 08', 0x6700);
      await x.send('chip', p80(0x82, 0, 0, new Uint8Array(24), 256), 'EXTERNAL AUTHENTICATE with no challenge', 0x6985);
      const rt = await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE: RT', 0x9000);
      const open = await x.send(
        'mkc',
        p80(0x70, 0x01, 0, concatBytes(ICSN, Uint8Array.of(TKV), rt, PERSO_ORDER.csn), 256),
        'PERSO OPEN subscriber: RM ‖ host cryptogram',
        0x9000,
      );
      const ea = (cryptogram: Uint8Array, p1 = 0) =>
        p80(0x82, p1, 0, concatBytes(open.subarray(0, 8), PERSO_ORDER.csn, cryptogram), 256);
      await x.send('chip', ea(open.subarray(8, 16), 0x02), 'EXTERNAL AUTHENTICATE naming kind 02 (SAM) on a subscriber chip', 0x6a80);
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT again (the refusal spent the challenge)', 0x9000);
      const rt2 = await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE: RT', 0x9000);
      const open2 = await x.send(
        'mkc',
        p80(0x70, 0x01, 0, concatBytes(ICSN, Uint8Array.of(TKV), rt2, PERSO_ORDER.csn), 256),
        'PERSO OPEN again over the new RT',
        0x9000,
      );
      await x.send(
        'chip',
        p80(0x82, 0, 0, concatBytes(open2.subarray(0, 8), PERSO_ORDER.csn, flipLast(open2.subarray(8, 16))), 256),
        'EXTERNAL AUTHENTICATE with a wrong host cryptogram: the challenge is spent',
        0x6300,
      );
      await x.send(
        'chip',
        p80(0x82, 0, 0, concatBytes(open2.subarray(0, 8), PERSO_ORDER.csn, open2.subarray(8, 16)), 256),
        'EXTERNAL AUTHENTICATE with the right cryptogram, but the challenge is gone',
        0x6985,
      );
      await persoSession(x);
      const k = await x.send('mkc', p80(0x74, 0, 0x11, undefined, 256), 'PERSO KEY 11 (K_auth of utility 01)', 0x9000);
      await x.send('chip', p80(0xd8, k[0]!, 0x11, flipLast(k.subarray(1))), 'PUT KEY 11 with a wrong MAC: the session ends, nothing staged', 0x6988);
      await x.send('chip', p80(0xd8, k[0]!, 0x11, k.subarray(1)), 'PUT KEY 11 with the right MAC after the refusal: no session', 0x6985);
      await persoSession(x);
      await x.send('chip', p80(0xe2, 0x00, 1, new Uint8Array(16)), 'STORE DATA block 1 before block 0: out of order, the session ends', 0x6a86);
      await persoSession(x);
      await persoKeys(x);
      await persoData(x);
      await persoClose(x, 0x05, 'personalised (keys, data and LCS 05 in one commit)');
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT: now the purse answers with its own FCI', 0x9000);
      await x.send('chip', A.readPurse(1), 'READ PURSE 1: balance 10.00', 0x9000);
      await persoSession(x);
      const k2 = await x.send('mkc', p80(0x74, 0, 0x11, undefined, 256), 'PERSO KEY 11 (the MKC would give it)', 0x9000);
      await x.send('chip', p80(0xd8, k2[0]!, 0x11, k2.subarray(1)), 'PUT KEY on a personalised chip', 0x6985);
      await persoSession(x);
      await persoClose(x, 0x04, 'blocked by the issuer');
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT a blocked card: its FCI with the warning 6283', 0x6283);
      await x.send('chip', A.readPurse(1), 'READ PURSE on a blocked card', 0x6985);
      await persoSession(x);
      await persoClose(x, 0x0c, 'terminated for ever');
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT a terminated card: 6F { 84 AID, 8A 0C } with 6285', 0x6285);
      await x.send('chip', p80(0x84, 0, 0, undefined, 8), 'GET CHALLENGE of a terminated card', 0x6985);
    },
  },
  {
    name: 'flow-bureau-perso',
    env: 'sealed',
    description:
      "bureau personalisation of a blank subscriber chip through the sealed master-key card, as terminal/bureau personalise() sends it (docs/personalisation.md §2): MKC open with its PIN, GET DATA, the chip's blank FCI, session, PERSO KEY / PUT KEY for every key, PERSO PIN, PERSO DATA / STORE DATA, PERSO CLOSE / SET STATUS / PERSO RECEIPT",
    devices: ['mkc', 'chip'],
    async run(x) {
      const mkc = await MasterKeyCard.open(x.channel('mkc', describePerso), MKC_PIN);
      await personalise(mkc, x.channel('chip', describePerso), PERSO_ORDER);
      await x.send('chip', A.selectAid(AID_PURSE), 'SELECT the purse of the new card', 0x9000);
      await x.send('chip', A.readPurse(1), 'READ PURSE 1: balance 10.00 as ordered', 0x9000);
    },
  },
  {
    name: 'flow-meter-commissioning',
    lazy: true,
    description:
      "commissioning of a new electricity meter (meter id 000123) with the installer's commissioning card, as meter/cardslot sends it: the meter selects its SAM and SVM at power-up, then the card in the slot: SELECT, GET CHALLENGE, AUTH INIT P1 = 01, MUTUAL AUTHENTICATE, AUTH FINISH, COMMISSION, COMMISSION CHECK at the SAM; the meter applies the payload",
    devices: ['msam', 'msvm', 'comcard'],
    async run(x) {
      const { issuer } = x.world;
      const wrap = x.wrap({ sam: 'msam', svm: 'msvm', card: 'comcard' }, describeMeter);
      const slot = new VirtualReader(FLOW_READERS.comcard);
      const cm = await createMeterOnModules({
        meter: { start: METER_START, tariff: TariffTable.flat(1000) },
        samReader: new VirtualReader(FLOW_READERS.msam, x.env.chips.msam),
        svmReader: new VirtualReader(FLOW_READERS.msvm, x.env.chips.msvm),
        cardReader: slot,
        core: { key: issuer.coreKey(METER_ID, 1, 1), cipher: issuer.crypto.cipher, rng: new SeededRng(`${SPEC_SEED}:meter-core`) },
        wrap,
      });
      const o = await cm.slot.insert(x.env.chips.comcard);
      if (!o.accepted || !o.commissioning) throw new Error(`flow-meter-commissioning: ${JSON.stringify(o)}`);
      cm.slot.remove();
    },
  },
  {
    name: 'flow-gas-meter',
    lazy: true,
    description:
      "the offline gas meter (meter id 000456, its own SAM + SVM of utility 02): power-up, the subscriber card's gas purse 02 debited by the meter's slot into the meter's SVM (READ PURSE, the card's offline configuration read from SFI 03 — none on this card, so no CONFIG CHECK: flow-offline-config-readings has one —, authenticate, TRANSFER AUTH, BEGIN, DEBIT, COMPLETE, meter data written to SFI 02, the readings signed by the SAM with SIGN READINGS and written to SFI 04), then an hour of gas burnt from the SVM through token requests (READ STATE P1 = 02 over the meter core's challenge from SeededRng(\"purse-spec:gas-core\"), TOKEN AUTH, TOKEN REQUEST)",
    devices: ['gsam', 'gsvm', 'card'],
    async run(x) {
      const { issuer } = x.world;
      const wrap = x.wrap({ sam: 'gsam', svm: 'gsvm', card: 'card' }, describeMeter);
      const slot = new VirtualReader(FLOW_READERS.card);
      const cm = await createMeterOnModules({
        meter: { start: METER_START, tariff: TariffTable.flat(1000), commodity: 'gas' },
        samReader: new VirtualReader(FLOW_READERS.gsam, x.env.chips.gsam),
        svmReader: new VirtualReader(FLOW_READERS.gsvm, x.env.chips.gsvm),
        cardReader: slot,
        core: { key: issuer.coreKey(GAS_METER_ID, 2, 1), cipher: issuer.crypto.cipher, rng: new SeededRng(`${SPEC_SEED}:gas-core`) },
        wrap,
      });
      const o = await cm.slot.insert(x.env.chips.card);
      if (!o.accepted || o.amount <= 0) throw new Error(`flow-gas-meter: ${JSON.stringify(o)}`);
      cm.slot.remove();
      await cm.meter.advance(cm.meter.now + 3600, 500_000);
    },
  },  {
    name: 'cmd-purse-offline',
    description:
      "the purse commands of issue 17 (purse-spec §13), each success and refusal in the spec's order: REMOTE LOAD, PUT CONFIG, READ RECORD of SFI 03 / 04, UPDATE RECORD of SFI 04 (outside and inside a session of the gas meter's SAM), CLEAR READINGS",
    devices: ['card', 'gsam', 'pincard'],
    async run(x) {
      const { issuer } = x.world;
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse: FCI (five purses, 01..05)', 0x9000);
      await x.send('card', A.readPurse(GAS), 'READ PURSE 02: the gas purse, balance 100.00, counter 0', 0x9000);
      // §13.2 REMOTE LOAD: 6A86, 6A88, 6700, 6985, 6300, 6A80, outcomes 01 / 02, 9409, 9404, 9402
      const d1 = remoteData(x, gasLoad(1, 5000));
      await x.send('card', raw80(0x56, 0x01, GAS, d1, 256), 'REMOTE LOAD with P1 ≠ 00', 0x6a86);
      await x.send('card', A.remoteLoad(9, d1), 'REMOTE LOAD for purse 09 the card does not hold', 0x6a88);
      await x.send('card', raw80(0x56, 0, GAS, d1.subarray(0, 25), 256), 'REMOTE LOAD with Lc 25 ≠ 26', 0x6700);
      await x.send('pincard', A.selectAid(AID_PURSE), 'SELECT the purse of the second card (CSN …02)', 0x9000);
      await x.send(
        'pincard',
        A.remoteLoad(3, remoteData(x, { ...gasLoad(1, 5000), csn: PIN_CSN, purse: 3 })),
        'REMOTE LOAD onto its water purse 03, blocked by a lab write before the trace: refused before the MAC',
        0x6985,
      );
      await x.send('card', A.remoteLoad(GAS, flipLast(d1)), 'REMOTE LOAD with a wrong MAC', 0x6300);
      await x.send(
        'card',
        A.remoteLoad(GAS, remoteData(x, { ...gasLoad(1, 5000), csn: PIN_CSN })),
        "REMOTE LOAD signed for the second card's CSN (K_remote is per card): a wrong MAC here",
        0x6300,
      );
      await x.send(
        'card',
        A.remoteLoad(GAS, remoteData(x, gasLoad(1, 5000, { dateTime: fromHex('2611220830FF') }))),
        'REMOTE LOAD, MAC right, date-time not BCD',
        0x6a80,
      );
      await x.send('card', A.remoteLoad(GAS, remoteData(x, gasLoad(0, 5000))), 'REMOTE LOAD, MAC right, seq 0', 0x6a80);
      await x.send('card', A.remoteLoad(GAS, remoteData(x, gasLoad(1, 0))), 'REMOTE LOAD, MAC right, amount 0', 0x6a80);
      const first = await x.send(
        'card',
        A.remoteLoad(GAS, d1),
        'REMOTE LOAD seq 1 of 50.00: outcome 01 applied ‖ balance 150.00 ‖ counter 1 ‖ receipt (K_remote, "A")',
        0x9000,
      );
      const again = await x.send(
        'card',
        A.remoteLoad(GAS, d1),
        'REMOTE LOAD seq 1 delivered again: outcome 02 already applied, nothing written, the same receipt',
        0x9000,
      );
      expectFlow(first[0] === 1 && again[0] === 2, 'remote load outcomes 01 then 02');
      expectFlow(toHex(first.subarray(7)) === toHex(again.subarray(7)), 'the same receipt for both outcomes');
      expectFlow(verifyRemoteReceipt(issuer, gasLoad(1, 5000), first.subarray(7)), 'the receipt verifies');
      await x.send(
        'card',
        A.remoteLoad(GAS, remoteData(x, gasLoad(3, 700))),
        'REMOTE LOAD seq 3 before seq 2 arrived: a gap, nothing written',
        0x9409,
      );
      await x.send('pincard', A.readPurse(GAS), 'READ PURSE 02 of the second card: counter FFFF (a lab write before the trace)', 0x9000);
      await x.send(
        'pincard',
        A.remoteLoad(GAS, remoteData(x, { ...gasLoad(1, 5000), csn: PIN_CSN })),
        'REMOTE LOAD seq 1 onto that purse, MAC right: the counter is exhausted',
        0x9404,
      );
      await x.send(
        'card',
        A.remoteLoad(GAS, remoteData(x, gasLoad(2, 4_900_00))),
        'REMOTE LOAD seq 2 of 4900.00, MAC right: 150.00 + 4900.00 above the maximum 5000.00 (the carrier keeps it)',
        0x9402,
      );
      await x.send('card', A.remoteLoad(GAS, remoteData(x, gasLoad(2, 700))), 'REMOTE LOAD seq 2 of 7.00: applied', 0x9000);
      await x.send('card', A.readLogRecord(1), 'READ RECORD 1 of the log: type 03 remote load, terminal id = seller "GAS1", RV = seq 2 ‖ 00000000', 0x9000);
      await x.send('card', A.readPurse(GAS), 'READ PURSE 02: balance 157.00, counter 2', 0x9000);
      // §13.3 PUT CONFIG: 6A86, 6A88, 6700, 6A80 (format, purse byte), 6300, success, 9407
      const c2 = configData(x, gasConfig(2));
      await x.send('card', A.readOfflineConfig(2), 'READ RECORD 2 of the offline configuration (SFI 03): never written, zeros', 0x9000);
      await x.send('card', raw80(0x58, 0x01, GAS, c2), 'PUT CONFIG with P1 ≠ 00', 0x6a86);
      await x.send('card', A.putConfig(9, c2), 'PUT CONFIG for purse 09 the card does not hold', 0x6a88);
      await x.send('card', raw80(0x58, 0, GAS, c2.subarray(0, 43)), 'PUT CONFIG with Lc 43 ≠ 44', 0x6700);
      await x.send('card', A.putConfig(GAS, withByte(c2, 0, 0x02)), 'PUT CONFIG with format byte 02', 0x6a80);
      await x.send('card', A.putConfig(3, c2), "PUT CONFIG of the gas purse's configuration sent for purse 03 (purse byte 02)", 0x6a80);
      await x.send('card', A.putConfig(GAS, flipLast(c2)), 'PUT CONFIG with a wrong card MAC', 0x6300);
      await x.send(
        'card',
        A.putConfig(GAS, withByte(c2, 15 + 3, 0xff)),
        'PUT CONFIG with the emergency-credit limit changed after signing: the card MAC covers every byte',
        0x6300,
      );
      await x.send('card', A.putConfig(GAS, c2), 'PUT CONFIG version 2 for gas meter 000456: one commit, no answer data', 0x9000);
      await x.send('card', A.putConfig(GAS, c2), 'PUT CONFIG version 2 again: not newer than the stored one', 0x9407);
      await x.send(
        'card',
        A.putConfig(GAS, configData(x, gasConfig(1, { emergencyLimit: 5000 }))),
        'PUT CONFIG version 1, rightly signed (an older configuration kept by somebody): a downgrade, refused',
        0x9407,
      );
      await x.send('card', A.readOfflineConfig(2), 'READ RECORD 2 of SFI 03: the configuration as written (the meter MAC at 28..35)', 0x9000);
      await x.send('card', A.readOfflineConfig(6), 'READ RECORD 6 of SFI 03: the card has five purses', 0x6a83);
      // SFI 04: READ RECORD, UPDATE RECORD outside / inside a session
      await x.send('card', A.readOfflineReadings(2), 'READ RECORD 2 of the offline readings (SFI 04): none, zeros', 0x9000);
      const reading = gasReading();
      const noMac = reading.encode();
      await x.send('card', A.updateOfflineReadings(6, noMac), 'UPDATE RECORD 6 of SFI 04: no such record', 0x6a83);
      await x.send('card', new CommandApdu({ cla: 0, ins: 0xdc, p1: 2, p2: 0x24, data: noMac.subarray(0, 143) }), 'UPDATE RECORD 2 of SFI 04 with Lc 143 ≠ 144', 0x6700);
      await x.send('card', A.updateOfflineReadings(2, noMac), 'UPDATE RECORD 2 of SFI 04 without a SAM session', 0x6982);
      await x.send('gsam', A.selectAid(AID_SAM), "SELECT the gas meter's SAM (meter 000456, purse 02)", 0x9000);
      await authenticateGas(x);
      const mac = await x.send(
        'gsam',
        A.samSignReadings(CSN, reading.signedPart()),
        'SIGN READINGS: the MAC under K_offline of record bytes 0..134',
        0x9000,
      );
      const signed = reading.withMac(mac).encode();
      await x.send('card', A.updateOfflineReadings(1, signed), "UPDATE RECORD 1 of SFI 04 in a purse 02 session: the electricity purse's record", 0x6982);
      await x.send('card', A.updateOfflineReadings(2, withByte(signed, 0, 0x02)), 'UPDATE RECORD 2 of SFI 04 with format byte 02', 0x6a80);
      await x.send('card', A.updateOfflineReadings(2, withByte(signed, 4, 0x03)), 'UPDATE RECORD 2 of SFI 04 with purse byte 03', 0x6a80);
      await x.send('card', A.updateOfflineReadings(2, signed), 'UPDATE RECORD 2 of SFI 04: the signed reading', 0x9000);
      const onCard = await x.send('card', A.readOfflineReadings(2), 'READ RECORD 2 of SFI 04: the reading as written', 0x9000);
      expectFlow(verifyOfflineReading(issuer, CSN, onCard), "the gas utility verifies the reading's 'M' MAC");
      // §13.5 CLEAR READINGS: 6A86, 6A88, 6700, 6300, 6985, success, 6985
      const readingMac = onCard.subarray(135, 143);
      const clear = signClearReadings(issuer, CSN, GAS, readingMac);
      await x.send('card', raw80(0x5a, 0x01, GAS, clear), 'CLEAR READINGS with P1 ≠ 00', 0x6a86);
      await x.send('card', A.clearReadings(9, clear), 'CLEAR READINGS for purse 09 the card does not hold', 0x6a88);
      await x.send('card', raw80(0x5a, 0, GAS, clear.subarray(0, 15)), 'CLEAR READINGS with Lc 15 ≠ 16', 0x6700);
      await x.send('card', A.clearReadings(GAS, flipLast(clear)), 'CLEAR READINGS with a wrong MAC', 0x6300);
      await x.send(
        'card',
        A.clearReadings(GAS, signClearReadings(issuer, CSN, GAS, flipLast(readingMac))),
        'CLEAR READINGS rightly signed for another reading (not the one on the card): the reading stays',
        0x6985,
      );
      await x.send('card', A.clearReadings(GAS, clear), 'CLEAR READINGS of the reading the utility holds: one commit zeroing the record', 0x9000);
      await x.send('card', A.readOfflineReadings(2), 'READ RECORD 2 of SFI 04: cleared, zeros', 0x9000);
      await x.send('card', A.clearReadings(GAS, clear), 'CLEAR READINGS again: no reading on the card', 0x6985);
    },
  },
  {
    name: 'cmd-sam-offline',
    description:
      "the offline meter SAM commands of issue 17 (purse-spec §13.3, §13.4) at the gas meter's SAM (meter 000456, purse 02, KT version 1): CONFIG CHECK and SIGN READINGS, each refusal and success (SIGN READINGS only for the card the SAM has just authenticated)",
    devices: ['gsam', 'card'],
    async run(x) {
      const { issuer } = x.world;
      const cfg = signOfflineConfig(issuer, CSN, gasConfig(2)).record;
      const check = (config: Uint8Array, csn: Uint8Array = CSN) => A.samConfigCheck(csn, config);
      await x.send('gsam', A.selectAid(AID_SAM), "SELECT the gas meter's SAM (FCI: meter id 000456, purse 02, KT versions)", 0x9000);
      // CONFIG CHECK
      await x.send('gsam', raw80(0x1c, 0, 0x01, concatBytes(CSN, cfg)), 'CONFIG CHECK with P1-P2 ≠ 0000', 0x6a86);
      await x.send('gsam', raw80(0x1c, 0, 0, concatBytes(CSN, cfg.subarray(0, 35))), 'CONFIG CHECK with Lc 43 ≠ 44', 0x6700);
      await x.send('gsam', check(withByte(cfg, 0, 0x02)), 'CONFIG CHECK of a record with format byte 02', 0x6a80);
      await x.send(
        'gsam',
        check(signOfflineConfig(issuer, CSN, gasConfig(2, { purse: 3 })).record),
        "CONFIG CHECK of the water utility's configuration (purse 03)",
        0x6a80,
      );
      await x.send(
        'gsam',
        check(signOfflineConfig(issuer, CSN, gasConfig(2, { meterId: METER_ID })).record),
        'CONFIG CHECK of a configuration rightly signed for meter 000123: the card is bound to another meter',
        0x6a80,
      );
      await x.send('gsam', check(withByte(cfg, 27, 0x07)), 'CONFIG CHECK naming KT version 07 the SAM does not hold', 0x6a88);
      await x.send('gsam', check(flipLast(cfg)), 'CONFIG CHECK with a wrong meter MAC', 0x6300);
      await x.send('gsam', check(withByte(cfg, 22, 0x01)), 'CONFIG CHECK with the unit charge changed after signing', 0x6300);
      await x.send('gsam', check(cfg, PIN_CSN), "CONFIG CHECK of this card's configuration presented by another card (CSN …02)", 0x6300);
      await x.send('gsam', check(cfg), 'CONFIG CHECK of the configuration of gas meter 000456 for this card', 0x9000);
      // SIGN READINGS
      const body = gasReading().signedPart();
      const sign = (b: Uint8Array) => A.samSignReadings(CSN, b);
      await x.send('gsam', raw80(0x1e, 0x01, 0, concatBytes(CSN, body), 256), 'SIGN READINGS with P1-P2 ≠ 0000', 0x6a86);
      await x.send('gsam', raw80(0x1e, 0, 0, concatBytes(CSN, body.subarray(0, 134)), 256), 'SIGN READINGS with Lc 142 ≠ 143', 0x6700);
      await x.send('gsam', sign(body), 'SIGN READINGS with no authenticated card', 0x6982);
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse (FCI)', 0x9000);
      await authenticateGas(x);
      await x.send('gsam', A.samSignReadings(PIN_CSN, body), 'SIGN READINGS for another card (CSN …02) than the one authenticated', 0x6a80);
      await x.send('gsam', sign(withByte(body, 10, 0x13)), 'SIGN READINGS of a reading dated month 13 (not a date)', 0x6a80);
      await x.send('gsam', sign(withByte(withByte(withByte(withByte(body, 5, 0), 6, 0), 7, 0), 8, 0)), 'SIGN READINGS of reading sequence 0', 0x6a80);
      await x.send('gsam', sign(withByte(body, 37, 0)), 'SIGN READINGS with step count 0', 0x6a80);
      await x.send('gsam', sign(withByte(body, 0, 0x02)), 'SIGN READINGS of a record with format byte 02', 0x6a80);
      await x.send('gsam', sign(gasReading({ meterId: METER_ID }).signedPart()), "SIGN READINGS of another meter's reading (000123)", 0x6a80);
      await x.send('gsam', sign(gasReading({ purse: 3 }).signedPart()), "SIGN READINGS of the water utility's reading (purse 03)", 0x6a80);
      await x.send('gsam', sign(gasReading({ ktVersion: 7 }).signedPart()), 'SIGN READINGS naming KT version 07 the SAM does not hold', 0x6a88);
      const mac = await x.send('gsam', sign(body), "SIGN READINGS of the meter's own reading: MAC(K_offline, 'M' ‖ CSN ‖ bytes 0..134)", 0x9000);
      expectFlow(verifyOfflineReading(issuer, CSN, gasReading().withMac(mac)), 'the gas utility verifies the MAC');
      await x.send('gsam', '80EE000000', 'an instruction the SAM does not know', 0x6d00);
    },
  },
  {
    name: 'flow-remote-load',
    lazy: true,
    description:
      "remote loads of the gas purse carried by the electricity meter (meter id 000123, its own SAM + SVM), and the gas meter's readings carried back: first the card at the offline gas meter 000456 (transfer, meter data, readings signed by its SAM written to SFI 04); then the host's H = 57 puts three REMOTE LOADs for the card in the electricity meter's queue (relay ids 1: seq 2, 2: seq 1, 3: seq 1 again as a duplicated message); the card moved to the electricity meter: right after the FCI the slot delivers them in id order (seq 2 refused 9409, seq 1 applied, the duplicate answered outcome 02 with the same receipt, seq 2 tried again and applied), reads SFI 04 of the card's other purses (the gas reading collected for the host), then does its own electricity transfer",
    devices: ['gsam', 'gsvm', 'card', 'msam', 'msvm'],
    async run(x) {
      const { issuer } = x.world;
      const gas = await createMeterOnModules({
        meter: { start: METER_START, tariff: TariffTable.flat(1000), commodity: 'gas' },
        samReader: new VirtualReader(FLOW_READERS.gsam, x.env.chips.gsam),
        svmReader: new VirtualReader(FLOW_READERS.gsvm, x.env.chips.gsvm),
        cardReader: new VirtualReader(FLOW_READERS.card),
        core: { key: issuer.coreKey(GAS_METER_ID, 2, 1), cipher: issuer.crypto.cipher, rng: new SeededRng(`${SPEC_SEED}:gas-core`) },
        wrap: x.wrap({ sam: 'gsam', svm: 'gsvm', card: 'card' }, describeMeter),
      });
      // The card's channel is the flow's (in the reader "card slot"), handed to each meter in turn.
      await x.reset('card', 'the card inserted into the gas meter 000456');
      const g = await gas.slot.insert(x.env.chips.card);
      if (!g.accepted || !g.readings?.written) throw new Error(`flow-remote-load (gas meter): ${JSON.stringify(g)}`);
      gas.slot.remove(); // the meter powers the card down
      x.env.chips.card.powerUp(); // the electricity meter's slot powers it again (not an APDU)
      const cm = await createMeterOnModules({
        meter: { start: METER_START, tariff: TariffTable.flat(1000) },
        samReader: new VirtualReader(FLOW_READERS.msam, x.env.chips.msam),
        svmReader: new VirtualReader(FLOW_READERS.msvm, x.env.chips.msvm),
        cardReader: new VirtualReader(FLOW_READERS.card),
        core: { key: issuer.coreKey(METER_ID, 1, 1), cipher: issuer.crypto.cipher, rng: new SeededRng(`${SPEC_SEED}:meter-core`) },
        wrap: x.wrap({ sam: 'msam', svm: 'msvm', card: 'card' }, describeMeter),
      });
      const cmd = (id: number, f: RemoteLoadFields) => ({ id, csn: CSN, ins: 0x56, p2: GAS, data: remoteData(x, f) });
      const stored = cm.slot.commands.serve({
        ackBelow: 0,
        commands: [cmd(1, gasLoad(2, 2000)), cmd(2, gasLoad(1, 5000)), cmd(3, gasLoad(1, 5000))],
        forget: [],
      });
      expectFlow(stored.queued === 3 && stored.answers.length === 0, 'three commands queued');
      await x.reset('card', 'the card taken from the gas meter and inserted into the electricity meter 000123');
      const o = await cm.slot.insert(x.env.chips.card);
      if (!o.accepted || o.amount <= 0) throw new Error(`flow-remote-load: ${JSON.stringify(o)}`);
      cm.slot.remove();
      const back = cm.slot.commands.serve({ ackBelow: 0, commands: [], forget: [] });
      expectFlow(
        back.queued === 0 && back.answers.map((a) => `${a.id}:${sw(a.sw)}:${a.data[0]}`).join() === '2:9000:1,3:9000:2,1:9000:1',
        `answers for the host: ${JSON.stringify(back.answers.map((a) => [a.id, a.sw, a.data[0]]))}`,
      );
      const receipt = (id: number) => back.answers.find((a) => a.id === id)!.data.subarray(7);
      expectFlow(
        verifyRemoteReceipt(issuer, gasLoad(2, 2000), receipt(1)) &&
          verifyRemoteReceipt(issuer, gasLoad(1, 5000), receipt(2)) &&
          toHex(receipt(2)) === toHex(receipt(3)),
        'the receipts verify, the duplicate answered the same receipt',
      );
      expectFlow(
        back.readings.length === 1 &&
          back.readings[0]!.purse === GAS &&
          verifyOfflineReading(issuer, CSN, back.readings[0]!.record),
        "the gas meter's reading collected for the host, its 'M' MAC right",
      );
    },
  },
  {
    name: 'flow-offline-config-readings',
    lazy: true,
    description:
      "the gas utility's vending point writes the card's configuration for gas meter 000456 (PUT CONFIG, version 2); the card at the offline gas meter (its own SAM + SVM): the slot reads SFI 03 and the SAM checks it (CONFIG CHECK), the transfer, the meter data, the readings signed by the SAM (SIGN READINGS) and written to SFI 04; back at the vending point, SFI 04 read (the utility verifies the 'M' MAC) and CLEAR READINGS",
    devices: ['card', 'gsam', 'gsvm'],
    async run(x) {
      const { issuer } = x.world;
      await x.send('card', A.selectAid(AID_PURSE), "SELECT the purse at the gas utility's vending point", 0x9000);
      await x.send('card', A.readOfflineConfig(2), 'READ RECORD 2 of SFI 03: no configuration yet', 0x9000);
      await x.send(
        'card',
        A.putConfig(GAS, configData(x, gasConfig(2))),
        'PUT CONFIG version 2: gas meter 000456, emergency credit 5.00, unit charge 1.10, blacklist version 7, KT version 1',
        0x9000,
      );
      const wrap = x.wrap({ sam: 'gsam', svm: 'gsvm', card: 'card' }, describeMeter);
      const cm = await createMeterOnModules({
        meter: { start: METER_START, tariff: TariffTable.flat(1000), commodity: 'gas' },
        samReader: new VirtualReader(FLOW_READERS.gsam, x.env.chips.gsam),
        svmReader: new VirtualReader(FLOW_READERS.gsvm, x.env.chips.gsvm),
        cardReader: new VirtualReader(FLOW_READERS.card),
        core: { key: issuer.coreKey(GAS_METER_ID, 2, 1), cipher: issuer.crypto.cipher, rng: new SeededRng(`${SPEC_SEED}:gas-core`) },
        wrap,
      });
      await x.reset('card', 'the card taken from the vending point and inserted into the gas meter 000456');
      const o = await cm.slot.insert(x.env.chips.card);
      if (!o.accepted || o.amount <= 0 || !o.readings?.written) throw new Error(`flow-offline-config-readings: ${JSON.stringify(o)}`);
      cm.slot.remove(); // the meter powers the card down
      x.env.chips.card.powerUp(); // the vending point's reader powers it again (not an APDU)
      await x.reset('card', 'the card back at the vending point');
      await x.send('card', A.selectAid(AID_PURSE), 'SELECT the purse', 0x9000);
      const record = await x.send('card', A.readOfflineReadings(2), 'READ RECORD 2 of SFI 04: the readings the gas meter signed (sent to the utility)', 0x9000);
      expectFlow(verifyOfflineReading(issuer, CSN, record), "the gas utility's server verifies the 'M' MAC");
      await x.send(
        'card',
        A.clearReadings(GAS, signClearReadings(issuer, CSN, GAS, record.subarray(135, 143))),
        'CLEAR READINGS the server signed for the reading it stored',
        0x9000,
      );
      await x.send('card', A.readOfflineReadings(2), 'READ RECORD 2 of SFI 04: cleared', 0x9000);
    },
  },
];

/** One in-process channel per chip of a fresh purse-spec world (the four of `DeviceName`). */
export async function worldChannels(world: SpecWorld = specWorld()): Promise<Record<DeviceName, CardChannel>> {
  const out = {} as Record<DeviceName, CardChannel>;
  for (const d of ['card', 'sam', 'svm', 'pincard'] as const)
    out[d] = await new VirtualReader(FLOW_READERS[d], world[d].os).connect();
  return out;
}

/** The chips of a fresh purse-spec world by device name (for card files: `createCardFile(path, os)`). */
export function worldChips(world: SpecWorld = specWorld()): Record<DeviceName, CardOs> {
  return { card: world.card.os, sam: world.sam.os, svm: world.svm.os, pincard: world.pincard.os };
}

/**
 * Opens one in-process channel per chip of `flow` in a fresh environment of its kind (the chips
 * seeded as the recording's were), in a reader named as in `FLOW_READERS`.
 */
export async function flowChannels(flow: Flow): Promise<Partial<Record<ChipName, CardChannel>>> {
  const env = await flowEnv(flow.env);
  const out: Partial<Record<ChipName, CardChannel>> = {};
  for (const d of flow.devices) out[d] = await new VirtualReader(FLOW_READERS[d], env.chips[d]).connect();
  return out;
}

/** The chips of a fresh environment of `flow`, by name (for card files: `createCardFile(path, os)`). */
export async function flowChips(flow: Flow): Promise<Readonly<Record<ChipName, CardOs>>> {
  return (await flowEnv(flow.env)).chips;
}

/** Plays a flow against a fresh seeded environment and returns the version 2 trace text (no timing). */
export async function recordFlow(flow: Flow): Promise<string> {
  const env = await flowEnv(flow.env);
  const world = env.world;
  const sink = new MemoryTraceSink();
  const rec = new TraceRecorder(sink, {
    timing: false,
    tool: 'meterpurse apdu-traces/record.ts',
    extra:
      flow.env === 'ceremony' || flow.env === 'sealed'
        ? {
            world: `apdu-traces/flows.ts flowEnv('${flow.env}') (ceremony of test/bureau/persoExamples.ts)`,
            'rng-seed': PERSO_SEED,
          }
        : { world: `test/applets/specExamples.ts specWorld()`, 'rng-seed': SPEC_SEED },
    notes: [
      flow.description,
      `Chips: ${flow.devices.map((d) => `${d} = ${FLOW_PROFILES[d]} card, SeededRng("${FLOW_RNG_SEEDS[d]}")`).join('; ')}`,
      'Regenerate: npx tsx apdu-traces/record.ts (see apdu-traces/README.md)',
    ],
  });
  const channels: Partial<Record<ChipName, RecordingChannel>> = {};
  if (!flow.lazy)
    for (const d of flow.devices)
      channels[d] = rec.channel(await new VirtualReader(FLOW_READERS[d], env.chips[d]).connect(), { id: d });
  const channel = (d: ChipName): RecordingChannel => {
    const ch = channels[d];
    if (!ch) throw new Error(`${flow.name}: chip ${d} is not among the flow's devices`);
    return ch;
  };
  // A lazy flow may also talk to a chip itself (a vending point before and after a meter): its
  // channel opens at the first such command, in its own reader. A card moves between readers
  // (vending point, one meter, another) as a reset the flow records (`ctx.reset`): the next meter
  // that opens the chip is handed the channel it already has, so one channel tells the card's story.
  const moved = new Set<ChipName>();
  const open = async (d: ChipName): Promise<RecordingChannel> => {
    if (!channels[d] && flow.lazy && flow.devices.includes(d))
      channels[d] = rec.channel(await new VirtualReader(FLOW_READERS[d], env.chips[d]).connect(), { id: d });
    return channel(d);
  };
  const ctx: FlowContext = {
    world,
    env,
    async send(d, c, note, want) {
      const ch = await open(d);
      const cmd = typeof c === 'string' ? CommandApdu.decode(fromHex(c)) : c;
      ch.comment(want !== undefined && want !== 0x9000 ? `${note} → ${sw(want)}` : note);
      const r: ResponseApdu = await ch.transmit(cmd);
      if (want !== undefined && r.sw !== want)
        throw new Error(`${flow.name}: "${note}" answered ${sw(r.sw)}, not ${sw(want)}`);
      return r.data;
    },
    async reset(d, note) {
      const ch = await open(d);
      ch.comment(note);
      await ch.reset();
      moved.add(d);
    },
    channel(d, describe) {
      const ch = channel(d);
      return {
        get readerName() {
          return ch.readerName;
        },
        get atr() {
          return ch.atr;
        },
        get protocol() {
          return ch.protocol;
        },
        transmit: (c: CommandApdu) => {
          ch.comment(describe(c));
          return ch.transmit(c);
        },
        reset: () => ch.reset(),
        disconnect: () => ch.disconnect(),
      } as CardChannel;
    },
    wrap(roles, describe) {
      return (inner, role) => {
        const id = roles[role];
        if (channels[id] && moved.delete(id)) {
          // The chip moved into this meter: the meter's own connection is not recorded (the flow
          // reset the chip before the insertion); the channel's disconnect stays the flow's.
          const ch = ctx.channel(id, (c) => describe(c, role));
          return Object.assign(Object.create(ch) as CardChannel, { disconnect: async () => undefined });
        }
        if (channels[id]) throw new Error(`${flow.name}: the ${role} channel (${id}) opened twice`);
        channels[id] = rec.channel(inner, { id });
        return ctx.channel(id, (c) => describe(c, role));
      };
    },
  };
  await flow.run(ctx);
  for (const d of flow.devices) await channel(d).disconnect();
  const opened = Object.keys(channels);
  if (opened.join() !== flow.devices.join())
    throw new Error(`${flow.name}: channels opened ${opened.join(', ')}, the flow names ${flow.devices.join(', ')}`);
  await rec.close();
  return sink.text();
}
