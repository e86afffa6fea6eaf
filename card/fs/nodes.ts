/**
 * The nodes of the file tree (ISO/IEC 7816-4 §7.1): dedicated files and elementary files. The
 * structure is fixed by the profile; EF contents and record bookkeeping live in the store.
 */
import type { AccessRule } from '../security/AccessCondition.js';
import type { StoreRegion } from '../store/PersistentStore.js';
import type { EfStructure } from './FileSpec.js';

export class DfNode {
  readonly kind = 'df' as const;
  readonly children: FileNode[] = [];
  constructor(
    readonly fid: number,
    readonly name: Uint8Array | undefined,
    readonly parent: DfNode | undefined,
  ) {}

  child(fid: number): FileNode | undefined {
    return this.children.find((c) => c.fid === fid);
  }

  /** The EF among the children with this short EF identifier. */
  bySfi(sfi: number): EfNode | undefined {
    for (const c of this.children) if (c.kind === 'ef' && c.sfi === sfi) return c;
    return undefined;
  }

  /** Path from the MF, e.g. "3F00/DF01". */
  get path(): string {
    const own = this.fid.toString(16).toUpperCase().padStart(4, '0');
    return this.parent ? `${this.parent.path}/${own}` : own;
  }
}

/**
 * An elementary file. Record EF region layout (transparent EFs hold only the content):
 * ```
 *  linear-fixed     count(1) | slot × maxRecords (recordLength each)
 *  linear-variable  count(1) | (len(1) | recordLength bytes) × maxRecords
 *  cyclic           count(1) | head(1) | slot × maxRecords      head = slot of record 1 (newest)
 * ```
 */
export class EfNode {
  readonly kind = 'ef' as const;
  constructor(
    readonly fid: number,
    readonly sfi: number | undefined,
    readonly structure: EfStructure,
    readonly parent: DfNode,
    readonly region: StoreRegion,
    /** Transparent: size; record EFs: record length. */
    readonly size: number,
    readonly recordLength: number,
    readonly maxRecords: number,
    readonly read: AccessRule,
    readonly update: AccessRule,
    readonly append: AccessRule,
  ) {}

  get isRecord(): boolean {
    return this.structure !== 'transparent';
  }

  /** Bytes before the first record slot. */
  get headerSize(): number {
    return this.structure === 'cyclic' ? 2 : this.structure === 'transparent' ? 0 : 1;
  }

  /** Bytes of one record slot. */
  get slotSize(): number {
    return this.structure === 'linear-variable' ? this.recordLength + 1 : this.recordLength;
  }

  get path(): string {
    return `${this.parent.path}/${this.fid.toString(16).toUpperCase().padStart(4, '0')}`;
  }
}

export type FileNode = DfNode | EfNode;
