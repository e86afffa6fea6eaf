/** Public API of the file system (STYLE.md rule 10). */
export { FileSystem, FID_MF } from './FileSystem.js';
export { DfNode, EfNode } from './nodes.js';
export type { FileNode } from './nodes.js';
export { validateFileSpec } from './FileSpec.js';
export type { AccessRules, DfSpec, EfSpec, EfStructure, FileSpec } from './FileSpec.js';
export { fcp, fci, fmd } from './fcp.js';
export {
  INS_SELECT,
  INS_READ_BINARY,
  INS_UPDATE_BINARY,
  INS_READ_RECORD,
  INS_UPDATE_RECORD,
  INS_APPEND_RECORD,
  requireAccess,
  selectFile,
  readBinary,
  updateBinary,
  readRecord,
  updateRecord,
  appendRecord,
} from './FileCommands.js';
