// Runs the command line from source (the kill -9 test spawns this as a real process).
import { main } from '../../cli/main.js';

process.exitCode = await main(process.argv.slice(2));
