/**
 * The kill -9 tests' conversation with a child process: send one operation and wait for the child
 * to answer 'done' or to die (SIGKILL at a planned point). A child that answers 'failed' rejects
 * with its error.
 */
import type { ChildProcess } from 'node:child_process';

export function runInChild(p: ChildProcess, message: unknown): Promise<'done' | 'killed'> {
  return new Promise<'done' | 'killed'>((resolve, reject) => {
    const onMsg = (m: { op: string; error?: string }) => {
      if (m.op === 'done') finish('done');
      else if (m.op === 'failed') {
        cleanup();
        reject(new Error(m.error));
      }
    };
    const onExit = () => finish('killed');
    const cleanup = () => {
      p.off('message', onMsg);
      p.off('exit', onExit);
    };
    const finish = (o: 'done' | 'killed') => {
      cleanup();
      resolve(o);
    };
    p.on('message', onMsg);
    p.on('exit', onExit);
    p.send(message as Parameters<ChildProcess['send']>[0]);
  });
}
