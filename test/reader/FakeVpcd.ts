import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { concatBytes, fromHex, toHex } from '../../card/util/hex.js';

/** A stand-in for vpcd: accepts the bridge and speaks the length-prefixed protocol. */
export class FakeVpcd {
  server: Server = createServer();
  peer: Socket | undefined;
  #buf: Uint8Array = new Uint8Array(0);
  #waiting: ((b: Uint8Array) => void)[] = [];
  #frames: Uint8Array[] = [];

  async listen(port = 0): Promise<number> {
    this.server.on('connection', (s) => {
      this.peer = s;
      this.#buf = new Uint8Array(0);
      s.on('data', (d: Buffer) => this.#data(d));
      s.on('error', () => {});
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  async connection(): Promise<Socket> {
    if (this.peer && !this.peer.destroyed) return this.peer;
    const [s] = (await once(this.server, 'connection')) as [Socket];
    return s;
  }

  #data(d: Buffer): void {
    this.#buf = concatBytes(this.#buf, new Uint8Array(d));
    while (this.#buf.length >= 2) {
      const n = (this.#buf[0]! << 8) | this.#buf[1]!;
      if (this.#buf.length < 2 + n) break;
      const f = this.#buf.slice(2, 2 + n);
      this.#buf = this.#buf.slice(2 + n);
      const w = this.#waiting.shift();
      if (w) w(f);
      else this.#frames.push(f);
    }
  }

  /** Sends a payload; with `split`, the length and the payload go in two writes as Debian's vpcd does. */
  send(payload: Uint8Array, split = false): void {
    const len = Uint8Array.of(payload.length >> 8, payload.length & 0xff);
    if (split) {
      this.peer!.write(len);
      this.peer!.write(payload);
    } else this.peer!.write(concatBytes(len, payload));
  }

  next(timeoutMs = 2000): Promise<Uint8Array> {
    const f = this.#frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no frame from the bridge')), timeoutMs);
      this.#waiting.push((b) => {
        clearTimeout(t);
        resolve(b);
      });
    });
  }

  async exchange(hex: string, split = false): Promise<string> {
    this.send(fromHex(hex), split);
    return toHex(await this.next());
  }

  close(): Promise<void> {
    this.peer?.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
