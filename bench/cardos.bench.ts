// APDUs per second through the card OS (issue 3: SELECT + READ BINARY mix, aim 300,000/s).
import type { Figure } from './run.js';
import { opsPerSecond } from './measure.js';
import { buildCard, DEMO_AID } from '../card/os/CardProfiles.js';
import { SeededRng } from '../card/crypto/rng.js';
import { fromHex } from '../card/util/hex.js';

export default async function bench(): Promise<Figure[]> {
  const card = buildCard('iso-fs', undefined, undefined, { rng: new SeededRng('bench') });
  card.powerUp();
  card.transmit(fromHex(`00A4040C08${DEMO_AID}`));
  const mix = [
    fromHex('00A4000C025001'), // SELECT EF by FID, no response
    fromHex('00B0000020'), // READ BINARY 32 bytes
    fromHex('00B0810010'), // READ BINARY via SFI 1
    fromHex('00A4000402500200'), // SELECT with FCP
    fromHex('00B2021400'), // READ RECORD 2 via SFI 2
  ];
  let i = 0;
  const mixed = opsPerSecond(() => card.transmit(mix[i++ % mix.length]!), 1500);
  const read = fromHex('00B0810020');
  const reads = opsPerSecond(() => card.transmit(read), 1000);
  const t0 = buildCard('iso-fs-t0', undefined, undefined, { rng: new SeededRng('bench') });
  t0.powerUp();
  t0.transmit(fromHex(`00A4040C08${DEMO_AID}`));
  const t0sel = fromHex('00A404000' + '8' + DEMO_AID);
  const getResp = fromHex('00C0000016');
  const t0pair = opsPerSecond(() => {
    t0.transmit(t0sel);
    t0.transmit(getResp);
  }, 1000);
  return [
    {
      name: 'card OS: SELECT + READ BINARY/RECORD mix (T=1)',
      value: mixed,
      unit: 'APDU/s',
      target: '300,000 APDU/s',
    },
    { name: 'card OS: READ BINARY 32 bytes via SFI (T=1)', value: reads, unit: 'APDU/s' },
    { name: 'card OS: T=0 SELECT by AID (61xx) + GET RESPONSE', value: t0pair * 2, unit: 'APDU/s' },
  ];
}
