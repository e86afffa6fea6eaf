// Runs the command line from source, for tests that need `meterpurse` as a separate process:
//   node --import tsx test/pcsc/cli-entry.ts card serve <card-file> --vpcd 127.0.0.1:<port>
import { main } from '../../cli/main.js';

process.exitCode = await main(process.argv.slice(2));
