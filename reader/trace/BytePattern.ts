import { MalformedDataError } from '../../card/index.js';

/** One token of a pattern: a byte that must match, or `..` (any one byte). */
type Token = number | 'any';

/**
 * A byte pattern for trace masks (docs/trace-format.md §Masks). Written as hex bytes separated
 * by white space, where `..` stands for any one byte and a single `*` for any run of bytes
 * (possibly empty). A `|` may separate response data from SW1 SW2 for readability; it carries
 * no meaning.
 *
 * ```
 * .. 84 00 00 ..          any class, GET CHALLENGE, P1 P2 = 00 00, any Le
 * * | 90 00               any data, then SW 9000
 * 6F .. 84 08 * 90 00     FCI with any length byte
 * ```
 */
export class BytePattern {
  /** Tokens before the `*` (or all of them when there is none). */
  readonly #head: readonly Token[];
  /** Tokens after the `*`; undefined when the pattern has no `*` (fixed length). */
  readonly #tail: readonly Token[] | undefined;

  private constructor(head: Token[], tail: Token[] | undefined) {
    this.#head = head;
    this.#tail = tail;
  }

  /**
   * Parses a pattern.
   * @param text the pattern text.
   * @param offset added to the offsets of errors (where the text sits in a bigger input).
   * @throws MalformedDataError (kind 'trace') naming the offset of the bad token.
   */
  static parse(text: string, offset = 0): BytePattern {
    const head: Token[] = [];
    let tail: Token[] | undefined;
    const re = /[^\s|]+/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const tok = m[0];
      const at = offset + m.index;
      if (tok === '*') {
        if (tail) throw new MalformedDataError('a pattern may hold only one *', at, undefined, 'trace');
        tail = [];
        continue;
      }
      // Tokens are pairs of characters; `....` is two don't-care bytes, `9000` two bytes.
      if (tok.length % 2 !== 0)
        throw new MalformedDataError(`odd pattern token ${JSON.stringify(tok)}`, at, undefined, 'trace');
      for (let i = 0; i < tok.length; i += 2) {
        const pair = tok.slice(i, i + 2);
        let t: Token;
        if (pair === '..') t = 'any';
        else if (/^[0-9A-Fa-f]{2}$/.test(pair)) t = parseInt(pair, 16);
        else
          throw new MalformedDataError(
            `not a hex byte, '..' or '*': ${JSON.stringify(pair)}`,
            at + i,
            undefined,
            'trace',
          );
        (tail ?? head).push(t);
      }
    }
    return new BytePattern(head, tail);
  }

  /** A pattern that matches exactly `bytes`. */
  static exact(bytes: Uint8Array): BytePattern {
    return new BytePattern([...bytes], undefined);
  }

  /** True when the pattern has a `*` (it matches inputs of many lengths). */
  get variableLength(): boolean {
    return this.#tail !== undefined;
  }

  /** True when `bytes` fits the pattern. */
  matches(bytes: Uint8Array): boolean {
    return this.dontCare(bytes) !== undefined;
  }

  /**
   * For an input that fits, a flag per byte: true where the pattern does not care (`..` or `*`).
   * Undefined when the input does not fit.
   */
  dontCare(bytes: Uint8Array): boolean[] | undefined {
    const head = this.#head;
    const tail = this.#tail;
    if (tail === undefined ? bytes.length !== head.length : bytes.length < head.length + tail.length)
      return undefined;
    const out = new Array<boolean>(bytes.length).fill(true);
    for (let i = 0; i < head.length; i++) {
      const t = head[i]!;
      if (t === 'any') continue;
      if (bytes[i] !== t) return undefined;
      out[i] = false;
    }
    if (tail) {
      const base = bytes.length - tail.length;
      for (let i = 0; i < tail.length; i++) {
        const t = tail[i]!;
        if (t === 'any') continue;
        if (bytes[base + i] !== t) return undefined;
        out[base + i] = false;
      }
    }
    return out;
  }

  /** The canonical text: upper-case hex bytes and `..`, one space apart, `*` in its place. */
  toString(): string {
    const tok = (t: Token) => (t === 'any' ? '..' : t.toString(16).toUpperCase().padStart(2, '0'));
    const parts = this.#head.map(tok);
    if (this.#tail) parts.push('*', ...this.#tail.map(tok));
    return parts.join(' ');
  }
}
