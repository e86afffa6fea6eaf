import 'reflect-metadata';
import { container } from 'tsyringe';
import type { Command, Io } from '../Command.js';
import { UsageError, parseOptions } from '../Command.js';
import { NodeCipherProvider, SystemRng } from '../../card/index.js';
import { HostDb, HostDbError } from '../../host/index.js';
import { HostService } from '../../host/index.js';
import { registerHost } from '../../host/index.js';
import { SimulatedPaymentGateway } from '../../host/index.js';
import { buildApi } from '../../host/index.js';
import { SimulatedField } from '../../host/index.js';
import { IssuerKeys } from '../../card/index.js';
import { CardMeterField } from '../field/cardMeterField.js';

/**
 * `meterpurse host serve --db <file> [--port N] [--listen 127.0.0.1] [--meters simulated|real]
 * [--field <file>] [--issuer-seed S] [--session-delay-ms N]`: the host service (docs/host.md).
 * Pending credits are delivered at start-up, so a restart loses nothing. The field of meters:
 * - `simulated` (default): simulated terminals whose state is kept in `--field` (default
 *   `<db>.field.json`), so the field survives a kill -9 of the process;
 * - `real`: real meter cores with their SAM and SVM applets behind their own modems
 *   (cli/field/cardMeterField.ts), personalised with the demo issuer of `--issuer-seed` (default
 *   '0', public test keys) whose KH versions a new database takes as its keys; in memory only.
 */
export const hostServeCommand: Command = {
  path: ['host', 'serve'],
  summary: 'run the supplier host (SQLite + HTTP/JSON API) over a field of simulated or real meters',
  usage:
    'host serve --db <file> [--port N] [--listen <addr>] [--meters simulated|real] [--field <file>] [--issuer-seed S] [--session-delay-ms N]',
  async run(args: string[], io: Io): Promise<number> {
    const { values } = parseOptions(args, {
      db: { type: 'string' },
      port: { type: 'string' },
      listen: { type: 'string' },
      field: { type: 'string' },
      meters: { type: 'string' },
      'issuer-seed': { type: 'string' },
      'session-delay-ms': { type: 'string' },
    });
    if (!values.db) throw new UsageError('--db <file> is required');
    const port = Number(values.port ?? '8080');
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port must be 0..65535, got ${values.port}`);
    const delay = Number(values['session-delay-ms'] ?? '0');
    if (!Number.isInteger(delay) || delay < 0)
      throw new UsageError('--session-delay-ms must be a non-negative integer');
    const meters = values.meters ?? 'simulated';
    if (meters !== 'simulated' && meters !== 'real')
      throw new UsageError(`--meters must be simulated or real, got ${meters}`);
    if (meters === 'real' && values.field !== undefined)
      throw new UsageError('--field (the simulated field state file) does not go with --meters real');
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
    // The composition root of the host process: it chooses the backends (database, random source,
    // clock, payment gateway, field of meters); host/register.ts wires the services over them.
    const cipher = new NodeCipherProvider();
    const issuer = meters === 'real' ? IssuerKeys.demo(cipher, values['issuer-seed'] ?? '0') : undefined;
    const svc = new HostService(
      registerHost(container.createChildContainer(), {
        db,
        cipher,
        rng: new SystemRng(),
        clock: Date.now,
        gateway: new SimulatedPaymentGateway(),
        field: (keys) =>
          issuer
            ? new CardMeterField({ issuer })
            : new SimulatedField(cipher, keys, values.field ?? `${values.db}.field.json`),
        // Key ceremony for real meters: the host holds the KH versions their SAMs were made with.
        ...(issuer ? { initialKeys: issuer.utility(1).host } : {}),
        sessionDelayMs: delay,
      }),
    );
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
