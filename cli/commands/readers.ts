import type { Command } from '../Command.js';
import { UsageError } from '../Command.js';
import { toHex } from '../../card/index.js';
import { CardChannelError } from '../../reader/index.js';
import { PcscContext } from '../../reader/index.js';

/** `meterpurse readers [--timeout ms]`: the PC/SC readers, whether a card is in each, and its ATR. */
export const readersCommand: Command = {
  path: ['readers'],
  summary: 'list PC/SC readers with card presence and ATR',
  usage: 'readers [--timeout <ms>] [--json]',
  options: {
    timeout: {
      type: 'string',
      value: '<ms>',
      help: 'how long to wait for the PC/SC service',
      byDefault: '5000',
    },
    json: { type: 'boolean', help: 'print [{reader, card, atr}] as JSON' },
  },
  examples: ['readers', 'readers --json --timeout 1000'],
  async run(args, io) {
    let timeoutMs = 5000;
    let json = false;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--json') json = true;
      else if (args[i] === '--timeout') {
        timeoutMs = Number(args[++i]);
        if (!Number.isInteger(timeoutMs) || timeoutMs < 0)
          throw new UsageError(`--timeout wants milliseconds, got '${args[i]}'`);
      } else throw new UsageError(`unknown argument '${args[i]}'`);
    }
    let ctx: PcscContext;
    try {
      ctx = await PcscContext.open({ timeoutMs });
    } catch (e) {
      if (e instanceof CardChannelError) {
        io.err(`meterpurse readers: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    try {
      const names = ctx.readerNames();
      const found: { reader: string; card: boolean; atr: string | null }[] = [];
      for (const name of names) {
        const r = ctx.reader(name);
        // The first status arrives from the addon's thread shortly after the reader is listed.
        const atr = await r.waitForCard(Math.min(timeoutMs, 300)).catch(() => undefined);
        found.push({ reader: name, card: atr !== undefined, atr: atr ? toHex(atr) : null });
      }
      if (json) io.out(`${JSON.stringify(found)}\n`);
      else if (found.length === 0) io.out('no PC/SC readers\n');
      else for (const f of found) io.out(`${f.reader}\t${f.atr !== null ? `card ${f.atr}` : 'empty'}\n`);
      return 0;
    } finally {
      ctx.close();
    }
  },
};
