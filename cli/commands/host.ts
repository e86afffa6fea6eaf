import type { Command, Io } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { NodeCipherProvider, SystemRng } from '../../card/crypto/index.js';
import { HostDb, HostDbError } from '../../host/service/HostDb.js';
import { HostService } from '../../host/service/HostService.js';
import { SimulatedPaymentGateway } from '../../host/service/PaymentGateway.js';
import { buildApi } from '../../host/service/api.js';
import { SimulatedField } from '../../host/sim/SimulatedField.js';

/**
 * `meterpurse host serve --db <file> [--port N] [--listen 127.0.0.1] [--field <file>]
 * [--session-delay-ms N]`: the host service (docs/host.md). Meters are reached through a simulated
 * field whose state is kept in `--field` (default `<db>.field.json`). Pending credits are delivered
 * at start-up, so a restart loses nothing.
 */
export const hostServeCommand: Command = {
  path: ['host', 'serve'],
  summary: 'run the supplier host (SQLite + HTTP/JSON API) over a simulated field of meters',
  usage: 'host serve --db <file> [--port N] [--listen <addr>] [--field <file>] [--session-delay-ms N]',
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, {
      db: { type: 'string' },
      port: { type: 'string' },
      listen: { type: 'string' },
      field: { type: 'string' },
      'session-delay-ms': { type: 'string' },
    });
    if (!values.db) throw new UsageError('--db <file> is required');
    const port = Number(values.port ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0..65535, got ${values.port}`);
    const delay = Number(values['session-delay-ms'] ?? '0');
    if (!Number.isInteger(delay) || delay < 0)
      throw new UsageError('--session-delay-ms must be a non-negative integer');
    let db: HostDb;
    try {
      db = new HostDb(values.db);
    } catch (e) {
      if (e instanceof HostDbError) {
        io.err(`meterpurse host serve: ${e.code}: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    const cipher = new NodeCipherProvider();
    const svc = new HostService({
      db,
      cipher,
      rng: new SystemRng(),
      gateway: new SimulatedPaymentGateway(),
      field: (keys) => new SimulatedField(cipher, keys, values.field ?? `${values.db}.field.json`),
      sessionDelayMs: delay,
    });
    const recovered = await svc.recover();
    if (recovered.length)
      io.out(
        `recovered ${recovered.length} pending credit(s): ${recovered.map((o) => `${o.txId}:${o.result}`).join(', ')}\n`,
      );
    const app = buildApi(svc);
    const address = await app.listen({ port, host: values.listen ?? '127.0.0.1' });
    io.out(`listening on ${address}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await app.close();
    svc.close();
    return 0;
  },
};
