/**
 * Every test file gets its own config directory, so card keys and rollback state records that
 * `createCardFile` / `meterpurse card new` make land in a temporary folder, never in the user's
 * ~/.config/meterpurse. Child processes (card serve in the PC/SC tests) inherit it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'mp-config-'));
process.env.MP_CONFIG_DIR = dir;
delete process.env.MP_CARD_KEY;
delete process.env.MP_CARD_KEY_FILE;
delete process.env.MP_CARD_STATE;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
