/**
 * The layer rules of DESIGN.md, checked by `npm run lint` (dependency-cruiser). From the bottom up:
 *
 *   card/      inside the chip: imports only card/ (and no node:fs, no reader types)
 *   reader/    CardChannel and its backends: card/
 *   protocol/  wire formats host and meter share: card/
 *   terminal/  the other side of the card protocols, over CardChannels: card/, reader/
 *   meter/     meter core, card slot, modem: card/, reader/, protocol/, terminal/
 *   host/      the supplier's server: card/, reader/, protocol/, terminal/ — never meter/
 *   cli/       composition roots: anything
 *
 * Another package is entered through its index.ts only.
 *
 * An import that runs up (or sideways between meter/ and host/) or closes a circle fails.
 */
const layer = (from, allowed) => ({
  name: `${from}-imports-only-${allowed.join('-') || 'itself'}`,
  severity: 'error',
  comment: `${from}/ may import ${[from, ...allowed].join('/, ')}/ only (DESIGN.md "Layers").`,
  from: { path: `^${from}/` },
  to: {
    path: '^(card|reader|protocol|terminal|meter|host|cli)/',
    pathNot: `^(${[from, ...allowed].join('|')})/`,
  },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle of imports (type-only imports aside) ties modules that should be layered.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    layer('card', []),
    layer('reader', ['card']),
    layer('protocol', ['card']),
    layer('terminal', ['card', 'reader']),
    layer('meter', ['card', 'reader', 'protocol', 'terminal']),
    layer('host', ['card', 'reader', 'protocol', 'terminal']),
    {
      name: 'through-the-index',
      severity: 'error',
      comment:
        'Another package is entered through its index.ts only (STYLE.md rule 10): its inside may move.',
      from: { path: '^(card|reader|protocol|terminal|meter|host|cli)/' },
      to: {
        path: '^(card|reader|protocol|terminal|meter|host)/',
        pathNot: ['^$1/', '^(card|reader|protocol|terminal|meter|host)/index\\.ts$'],
      },
    },
    {
      name: 'card-is-inside-the-chip',
      severity: 'error',
      comment: 'card/ is inside the chip: no file system (card files are the edge’s job).',
      from: { path: '^card/' },
      to: { dependencyTypes: ['core'], path: '^(fs|node:fs|fs/promises|node:fs/promises)$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
