/**
 * Work put off to the end of the current turn of the event loop (after every I/O callback of the turn ran), run in
 * the order it was put off. For many small NATS writes made by callbacks of one turn (acknowledgements of messages
 * whose sink answered in the same turn): the client flushes its buffer once per microtask checkpoint, so writes
 * made from separate callbacks leave in one socket write each; put off to the end of the turn they leave together.
 */
let queue: Array<() => void> = [];

export function atEndOfTurn(fn: () => void): void {
  if (queue.push(fn) === 1) setImmediate(runQueue);
}

/** Resolves at the end of this turn, after what was put off before it has run. */
export function endOfTurn(): Promise<void> {
  return new Promise<void>((resolve) => atEndOfTurn(resolve));
}

function runQueue(): void {
  const now = queue;
  queue = [];
  for (const fn of now) {
    try {
      fn();
    } catch {
      // Each caller handles its own failures; one must not keep the others from running.
    }
  }
}
