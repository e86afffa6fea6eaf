import { HostKeyRing, NodeCipherProvider, SeededRng } from '../../card/crypto/index.js';
import { fromHex } from '../../card/util/hex.js';
import { HostProtocol } from '../../host/protocol/HostProtocol.js';
import { SimulatedMeterTerminal } from '../../host/sim/SimulatedMeterTerminal.js';
import type { SimulatedMeterOptions } from '../../host/sim/SimulatedMeterTerminal.js';

export const cipher = new NodeCipherProvider();
export const KH0 = fromHex('0123456789ABCDEFFEDCBA9876543210');
export const KH1 = fromHex('404142434445464748494A4B4C4D4E4F');
export const ring = HostKeyRing.of([
  [0, KH0],
  [1, KH1],
]);

export function meterKeys(id: Uint8Array, versions: number[] = [0, 1]): Map<number, Uint8Array> {
  return new Map(versions.map((v) => [v, ring.terminalKey(cipher, v, id)]));
}

export function makeMeter(
  id: Uint8Array,
  seed = 'meter',
  o: Partial<SimulatedMeterOptions> = {},
): SimulatedMeterTerminal {
  return new SimulatedMeterTerminal(cipher, new SeededRng(seed), { id, terminalKeys: meterKeys(id), ...o });
}

export function makeHost(seed = 'host', keys: () => HostKeyRing = () => ring): HostProtocol {
  return new HostProtocol(cipher, new SeededRng(seed), keys);
}
