import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { fromHex } from '../../card/util/hex.js';
import { SeededRng } from '../../card/crypto/index.js';
import {
  diHostProtocol,
  diValueStoreDispatcher,
  HostProtocol,
  MemoryCreditStore,
  register,
  ValueStoreDispatcher,
} from '../../host/index.js';
import { cipher, makeMeter, ring } from './helpers.js';

describe('host registration (tsyringe, child container per host)', () => {
  it('resolves one protocol and one dispatcher per container, wired to the given store and meters', async () => {
    const id = fromHex('0D1001');
    const meter = makeMeter(id, 'di');
    const store = new MemoryCreditStore();
    const a = register(container.createChildContainer(), {
      cipher,
      rng: new SeededRng('di-host'),
      keys: () => ring,
      store,
      meters: { ref: () => ({ id, keyVersion: 0 }), terminal: () => meter.asTerminal() },
    });
    const b = register(container.createChildContainer(), {
      cipher,
      rng: new SeededRng('di-host-2'),
      keys: () => ring,
      store: new MemoryCreditStore(),
      meters: { ref: () => ({ id, keyVersion: 0 }), terminal: () => meter.asTerminal() },
    });
    const d = a.resolve<ValueStoreDispatcher>(diValueStoreDispatcher);
    expect(a.resolve<ValueStoreDispatcher>(diValueStoreDispatcher)).toBe(d);
    expect(a.resolve<HostProtocol>(diHostProtocol)).toBe(d.protocol);
    expect(b.resolve<HostProtocol>(diHostProtocol)).not.toBe(d.protocol);
    const o = await d.credit('0D1001', 42);
    expect(o.result).toBe('confirmed');
    expect(store.get(o.txId)!.state).toBe('confirmed');
    expect(meter.balance).toBe(42);
  });
});
