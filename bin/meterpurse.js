#!/usr/bin/env node
// The published entry point: runs the compiled command line in dist/ (built by `prepare` on `npm install`
// in a clone; shipped built in the tarball, see the "files" field of package.json).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
