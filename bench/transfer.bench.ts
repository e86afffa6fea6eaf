// Complete card-to-SVM transfers per second in-process (issue 4): insertion, ATR, selection,
// mutual authentication, debit, SVM credit, meter-data write — and the APDUs and bytes each takes.
import type { Figure } from './run.js';
import { opsPerSecondAsync } from './measure.js';
import { VirtualReader } from '../reader/VirtualReader.js';
import { NodeCipherProvider } from '../card/crypto/NodeCipherProvider.js';
import type { BlockAlgorithm, BlockCipherProvider, BlockMode } from '../card/crypto/types.js';
import { SeededRng } from '../card/crypto/rng.js';
import { fromHex } from '../card/util/hex.js';
import { IssuerKeys } from '../card/applets/IssuerKeys.js';
import { defaultPurses, makeSam, makeSubscriberCard, makeSvm } from '../card/applets/profiles.js';
import { MeterData } from '../card/applets/purse/records.js';
import { PURSE_ELECTRICITY } from '../card/applets/constants.js';
import { runCardSession } from '../terminal/CardTransfer.js';
import { MeterModules } from '../terminal/MeterModules.js';
import { CountingChannel, ExchangeCounter } from '../terminal/CountingChannel.js';

export default async function bench(): Promise<Figure[]> {
  const cipher = new NodeCipherProvider();
  const issuer = IssuerKeys.demo(cipher, 'bench');
  const meterId = fromHex('000123');
  const terminalId = fromHex('00000123');
  const now = fromHex('261122083000');
  const card = makeSubscriberCard(issuer, {
    csn: fromHex('4D50000000000001'),
    purses: defaultPurses(500_000),
    rng: new SeededRng('bench:card'),
  });
  const sam = makeSam(issuer, { meterId, terminalId, rng: new SeededRng('bench:sam') });
  const svm = makeSvm(issuer, { meterId, terminalId, max: 4_000_000_000, rng: new SeededRng('bench:svm') });
  const cardReader = new VirtualReader('card slot', card.os);
  const counter = new ExchangeCounter();
  const m = await MeterModules.open(
    await new VirtualReader('SAM', sam.os).connect(),
    await new VirtualReader('SVM', svm.os).connect(),
  );
  const md = new MeterData({
    meterId,
    purse: PURSE_ELECTRICITY,
    dateTime: now,
    cumulative: 1,
    tariffRegisters: [1, 2, 3, 4],
    sinceLastCredit: 0,
    lastTransferKind: 1,
    lastTransferRef: new Uint8Array(10),
    emergencyLimit: 0,
    emergencyUsed: 0,
    tariffPrices: [1, 2, 3, 4],
    events: 0,
  });
  let transfers = 0;
  // One transfer of 1 unit per insertion; the card is pulled and re-inserted each time.
  const one = async () => {
    const c = cardReader.remove();
    cardReader.insert(c!);
    const ch = new CountingChannel(await cardReader.connect(), counter);
    const o = await runCardSession(m, ch, {
      purse: PURSE_ELECTRICITY,
      dateTime: now,
      maxAmount: 1,
      meterData: () => md,
    });
    if (o.amount !== 1) throw new Error('transfer did not happen');
    transfers++;
  };
  // APDUs and bytes of one transfer, counted on all three channels.
  const samC = new ExchangeCounter();
  const svmC = new ExchangeCounter();
  const m2 = await MeterModules.open(
    new CountingChannel(await new VirtualReader('SAM2', sam.os).connect(), samC),
    new CountingChannel(await new VirtualReader('SVM2', svm.os).connect(), svmC),
  );
  const cardC = new ExchangeCounter();
  const base = [samC.apdus, svmC.apdus, samC.bytes, svmC.bytes];
  const c = cardReader.remove();
  cardReader.insert(c!);
  await runCardSession(m2, new CountingChannel(await cardReader.connect(), cardC), {
    purse: PURSE_ELECTRICITY,
    dateTime: now,
    maxAmount: 1,
    meterData: () => md,
  });
  const samApdus = samC.apdus - base[0]!;
  const svmApdus = svmC.apdus - base[1]!;
  const samBytes = samC.bytes - base[2]!;
  const svmBytes = svmC.bytes - base[3]!;
  const rate = await opsPerSecondAsync(one, 2000);
  // CPU time per transfer (user + system of this process): less sensitive to other load on the machine.
  const n = 3000;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const cpu = process.cpuUsage(cpu0);
  const cpuMicros = (cpu.user + cpu.system) / n;
  const protocolOnly = await cpuPerTransfer(new XorStandIn(), 3000);
  return [
    { name: 'CPU time per transfer', value: cpuMicros, unit: 'µs' },
    { name: 'CPU time per transfer with a stand-in cipher (all but TDES)', value: protocolOnly, unit: 'µs' },
    {
      name: 'transfers per CPU-second (1e6 / CPU time)',
      value: 1e6 / cpuMicros,
      unit: 'transfers/s',
      target: '10,000/s',
    },
    {
      name: 'card-to-SVM transfers per second (1 core, in-process)',
      value: rate,
      unit: 'transfers/s',
      target: '10,000/s',
    },
    { name: 'APDUs per transfer: card', value: cardC.apdus, unit: 'APDUs' },
    { name: 'APDUs per transfer: SAM', value: samApdus, unit: 'APDUs' },
    { name: 'APDUs per transfer: SVM', value: svmApdus, unit: 'APDUs' },
    {
      name: 'bytes over the card interface per transfer (C-APDU + R-APDU)',
      value: cardC.bytes,
      unit: 'bytes',
    },
    { name: 'bytes to SAM and SVM per transfer', value: samBytes + svmBytes, unit: 'bytes' },
    { name: 'card I/O time at 9600 baud (~1 ms per byte)', value: cardC.bytes, unit: 'ms' },
    { name: 'transfers run during the measurement', value: transfers, unit: 'transfers' },
  ];
}

/**
 * Bench-only stand-in for the block cipher (XOR with the key, no security at all): measures what a
 * transfer costs besides TDES, to show how much of the CPU time is the cipher.
 */
class XorStandIn implements BlockCipherProvider {
  readonly name = 'xor-stand-in';
  encrypt(_alg: BlockAlgorithm, _mode: BlockMode, key: Uint8Array, data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[i % key.length]!;
    return out;
  }
  decrypt(alg: BlockAlgorithm, mode: BlockMode, key: Uint8Array, data: Uint8Array): Uint8Array {
    return this.encrypt(alg, mode, key, data);
  }
}

/** CPU µs per complete transfer with the given cipher. */
async function cpuPerTransfer(cipher: BlockCipherProvider, n: number): Promise<number> {
  const issuer = IssuerKeys.demo(cipher, 'bench');
  const meterId = fromHex('000123');
  const terminalId = fromHex('00000123');
  const now = fromHex('261122083000');
  const card = makeSubscriberCard(issuer, {
    csn: fromHex('4D50000000000001'),
    purses: defaultPurses(500_000),
    rng: new SeededRng('bench:card'),
    cipher,
  });
  const sam = makeSam(issuer, { meterId, terminalId, rng: new SeededRng('bench:sam'), cipher });
  const svm = makeSvm(issuer, {
    meterId,
    terminalId,
    max: 4_000_000_000,
    rng: new SeededRng('bench:svm'),
    cipher,
  });
  const reader = new VirtualReader('card slot', card.os);
  const m = await MeterModules.open(
    await new VirtualReader('SAM', sam.os).connect(),
    await new VirtualReader('SVM', svm.os).connect(),
  );
  const one = async () => {
    reader.insert(reader.remove()!);
    const o = await runCardSession(m, await reader.connect(), {
      purse: PURSE_ELECTRICITY,
      dateTime: now,
      maxAmount: 1,
    });
    if (o.amount !== 1) throw new Error('transfer did not happen');
  };
  for (let i = 0; i < 200; i++) await one();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / n;
}
