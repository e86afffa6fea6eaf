// Run by check-tarball.sh inside an empty project where the packed tarball is installed: imports
// every public entry point by its package name, as a user's code would, checks that a few named
// exports are there and work, and that nothing else of the package can be imported.
// Exits 1 with one line per problem; prints one line per entry point when all is well.

/** Per entry point, exports that must exist and the kind each must be. */
const EXPECTED = {
  'meterpurse/card': {
    CommandApdu: 'function',
    ResponseApdu: 'function',
    Atr: 'function',
    buildCard: 'function',
    describeSw: 'function',
    fromHex: 'function',
    toHex: 'function',
  },
  'meterpurse/reader': {
    VirtualReader: 'function',
    RecordingChannel: 'function',
    CardChannelError: 'function',
    replayTrace: 'function',
    register: 'function',
  },
  'meterpurse/protocol': {
    encodeTxId: 'function',
    decodeTxId: 'function',
    formatTxId: 'function',
    crc16: 'function',
    FRAME_HEADER: 'number',
  },
  'meterpurse/terminal': {
    MeterModules: 'function',
    runCardSession: 'function',
    loadCard: 'function',
    CountingChannel: 'function',
    apdus: 'object',
  },
  'meterpurse/meter': {
    Meter: 'function',
    TokenExchanger: 'function',
    TariffTable: 'function',
    RtcTime: 'function',
    register: 'function',
  },
  'meterpurse/host': {
    HostService: 'function',
    ValueStoreDispatcher: 'function',
    HostProtocol: 'function',
    buildApi: 'function',
    PowerLineField: 'function',
  },
};

/** Paths that must stay closed: the command line, internals, files behind an index. */
const CLOSED = [
  'meterpurse',
  'meterpurse/cli/main',
  'meterpurse/dist/cli/main.js',
  'meterpurse/card/iso7816/CommandApdu',
];

const problems = [];

for (const [entry, names] of Object.entries(EXPECTED)) {
  let mod;
  try {
    mod = await import(entry);
  } catch (e) {
    problems.push(`${entry}: cannot be imported: ${e.code ?? ''} ${e.message}`);
    continue;
  }
  const missing = Object.entries(names)
    .filter(([name, kind]) => typeof mod[name] !== kind)
    .map(([name, kind]) => `${name} (${kind}, found ${typeof mod[name]})`);
  if (missing.length > 0) problems.push(`${entry}: missing or wrong exports: ${missing.join(', ')}`);
  else
    console.log(`ok ${entry}: ${Object.keys(mod).length} exports, checked ${Object.keys(names).join(', ')}`);
}

for (const path of CLOSED) {
  try {
    await import(path);
    problems.push(`${path}: can be imported but is not a public entry point`);
  } catch (e) {
    if (e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED')
      problems.push(`${path}: expected ERR_PACKAGE_PATH_NOT_EXPORTED, got ${e.code ?? ''} ${e.message}`);
    else console.log(`ok ${path}: not exported`);
  }
}

// The library works, not only loads: the README's example — a subscriber card in a virtual
// reader answers SELECT MF with 9000.
try {
  const { buildCard, CommandApdu, fromHex } = await import('meterpurse/card');
  const { VirtualReader } = await import('meterpurse/reader');
  const channel = await new VirtualReader('Virtual 0', buildCard('subscriber')).connect();
  const answer = await channel.transmit(CommandApdu.decode(fromHex('00A40000023F00')));
  await channel.disconnect();
  if (answer.sw !== 0x9000) throw new Error(`SELECT MF answered SW ${answer.sw.toString(16)}, not 9000`);
  console.log('ok the README example: a subscriber card in a VirtualReader answers SELECT MF with 9000');
} catch (e) {
  problems.push(`card round trip: ${e.stack ?? e}`);
}

if (problems.length > 0) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
