import { SeededRng } from '../../card/crypto/rng.js';
import { NodeCipherProvider } from '../../card/crypto/NodeCipherProvider.js';
import { buildCard } from '../../card/os/CardProfiles.js';
import type { Iso7816Os } from '../../card/os/Iso7816Os.js';
import { fromHex, toHex } from '../../card/util/hex.js';

export const cipher = new NodeCipherProvider();

/** A powered sample card (profile iso-fs or iso-fs-t0) with a seeded RNG and a collecting logger. */
export function sampleCard(protocol: 'T=0' | 'T=1' = 'T=1', config?: Record<string, unknown>) {
  const errors: unknown[] = [];
  const card = buildCard(protocol === 'T=1' ? 'iso-fs' : 'iso-fs-t0', config, undefined, {
    rng: new SeededRng('test'),
    cipher,
    logger: { error: (m, e) => errors.push(e ?? m) },
  });
  card.powerUp();
  return { card, errors, tx: (hex: string) => send(card, hex) };
}

/** Sends hex, returns the response as upper-case hex. */
export function send(card: Iso7816Os, hex: string): string {
  return toHex(card.transmit(fromHex(hex)));
}

/** "1234" padded with FF to 8 bytes. */
export const PIN_OK = '31323334FFFFFFFF';
export const PIN_BAD = '39393939FFFFFFFF';
export const PUK = '3132333435363738';
export const DEMO_AID = 'A000000999010203';
