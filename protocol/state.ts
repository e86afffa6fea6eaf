/**
 * Checked reads of a saved state (an NVM image given back to `Meter.restore`). A saved state is
 * outside data once it has been stored: every field is checked, and a bad one is a RangeError
 * naming its path.
 */
export type StateValue = number | boolean | string | null | StateValue[] | { [k: string]: StateValue };
export type StateObject = { [k: string]: StateValue };

export class StateReader {
  constructor(
    private readonly obj: StateObject,
    private readonly path: string,
  ) {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      throw new RangeError(`${path} must be an object`);
  }

  int(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      throw new RangeError(`${this.path}.${key} must be an integer ${min}…${max}, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.obj[key];
    if (typeof v !== 'boolean') throw new RangeError(`${this.path}.${key} must be a boolean`);
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.obj[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      throw new RangeError(
        `${this.path}.${key} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`,
      );
    return v as T;
  }

  ints(key: string, length: number, min = 0, max = Number.MAX_SAFE_INTEGER): number[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || v.length !== length)
      throw new RangeError(`${this.path}.${key} must be an array of ${length} integers`);
    return v.map((x, i) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max)
        throw new RangeError(
          `${this.path}.${key}[${i}] must be an integer ${min}…${max}, got ${JSON.stringify(x)}`,
        );
      return x;
    });
  }

  hex(key: string): string {
    const v = this.obj[key];
    if (typeof v !== 'string' || !/^([0-9A-F]{2})*$/.test(v))
      throw new RangeError(`${this.path}.${key} must be upper-case hex`);
    return v;
  }

  optionalHex(key: string): string | null {
    return this.obj[key] === null ? null : this.hex(key);
  }

  child(key: string): StateReader {
    return new StateReader(this.obj[key] as StateObject, `${this.path}.${key}`);
  }

  list(key: string, max: number): StateReader[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || v.length > max)
      throw new RangeError(`${this.path}.${key} must be an array of at most ${max}`);
    return v.map((x, i) => new StateReader(x as StateObject, `${this.path}.${key}[${i}]`));
  }
}
