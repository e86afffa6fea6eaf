import type { Command, Io, OptionDocs } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { runDemo } from '../demo/story.js';

const DEMO_OPTIONS = {
  seed: {
    type: 'string',
    value: '<S>',
    help: 'seed of the demo issuer and of the household',
    byDefault: '0',
  },
  days: {
    type: 'string',
    value: '<N>',
    help: 'days the household lives on tokens (1..366)',
    byDefault: '14',
  },
  keep: { type: 'boolean', help: 'keep the temporary folder with the host database instead of deleting it' },
  json: { type: 'boolean', help: 'print the result and the story as JSON' },
} as const satisfies OptionDocs;

/**
 * `meterpurse demo [--seed S] [--days N] [--keep] [--json]`: the end-to-end story on embedded
 * defaults (what `npm start` runs; cli/demo/story.ts tells it step by step).
 */
export const demoCommand: Command = {
  path: ['demo'],
  summary:
    'the end-to-end story: host, card issue and load, meter card slot, a household on tokens, power-line credit, gas meter, the books',
  usage: 'demo [--seed S] [--days N] [--keep] [--json]',
  options: DEMO_OPTIONS,
  examples: ['demo', 'demo --seed 7 --days 30 --json'],
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, DEMO_OPTIONS, false, this.usage);
    const days = Number(values.days ?? '14');
    if (!Number.isInteger(days) || days < 1 || days > 366)
      throw new UsageError(`--days must be an integer 1..366, got ${values.days}`);
    const lines: string[] = [];
    const r = await runDemo(
      { seed: values.seed ?? '0', days, keep: values.keep ?? false },
      values.json ? (l) => lines.push(l) : (l) => io.out(`${l}\n`),
    );
    if (values.json) io.out(`${JSON.stringify({ ...r, story: lines }, null, 2)}\n`);
    return r.balanced && r.ledgerBalanced ? 0 : 1;
  },
};
