/** Web Locks' exclusive mode, in memory: one holder per name, a FIFO queue, AbortSignal. */
export class FakeLocks {
  readonly #held = new Set<string>();
  readonly #queues = new Map<string, (() => void)[]>();

  request(
    name: string,
    options: { mode: 'exclusive'; signal: AbortSignal },
    callback: () => Promise<void>,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(name) ?? [];
      this.#queues.set(name, queue);
      const grant = () => {
        options.signal.removeEventListener('abort', abort);
        this.#held.add(name);
        callback()
          .then(resolve, reject)
          .finally(() => {
            this.#held.delete(name);
            this.#next(name);
          });
      };
      const abort = () => {
        const at = queue.indexOf(grant);
        if (at !== -1) queue.splice(at, 1);
        reject(new DOMException('The request was aborted.', 'AbortError'));
      };
      options.signal.addEventListener('abort', abort);
      queue.push(grant);
      // As the browser: the callback runs in a later task, never inside request().
      setTimeout(() => this.#next(name), 0);
    });
  }

  #next(name: string): void {
    if (this.#held.has(name)) return;
    this.#queues.get(name)?.shift()?.();
  }
}
