/** Random placement inputs for the property tests: shapes, a history (current assignments), shuffles. */
import { place, type Assignment, type PlacementInput } from "../../../engine/scheduler/placement.js";
import { randomIntegrations, randomWorkers, rng, type Rand, type Shape } from "./oracle.js";

export const SHAPES: Record<string, Shape> = {
  /** No pins, enough capacity most of the time: balance, spread and movement are exact here. */
  open: {
    workers: [1, 12],
    capacity: [1, 12],
    integrations: [0, 30],
    replicas: [0, 4],
    pin: 0,
    suspend: 0.1,
    drain: 0.1,
  },
  /** Little capacity, some of it zero: unplaced replicas, full workers. */
  tight: {
    workers: [0, 6],
    capacity: [0, 4],
    integrations: [0, 25],
    replicas: [0, 4],
    pin: 0,
    suspend: 0.1,
    drain: 0.15,
  },
  /** Pins to labels, some matching no worker; forced overloads, chains (augment). */
  pinned: {
    workers: [0, 10],
    capacity: [0, 8],
    integrations: [0, 30],
    replicas: [0, 4],
    pin: 0.4,
    suspend: 0.1,
    drain: 0.1,
  },
};

/**
 * A random input whose `current` comes from an earlier placement of a perturbed cluster (workers gone or not
 * yet there, other replica counts, other suspensions, other epochs) plus entries that must be ignored.
 */
export function scenario(seed: number, shape: Shape): PlacementInput {
  const r = rng(seed);
  const workers = randomWorkers(r, shape);
  const integrations = randomIntegrations(r, shape);
  let current: Assignment[] = [];
  if (r.chance(0.75)) {
    const earlierWorkers = [
      ...workers.filter(() => r.chance(0.75)),
      ...randomWorkers(r, { ...shape, workers: [0, 3] }, "old"),
    ];
    const earlierInts = integrations.map((i) => ({
      ...i,
      replicas: r.chance(0.2) ? r.n(5) : i.replicas,
      suspended: r.chance(0.1),
    }));
    current = place({ integrations: earlierInts, workers: earlierWorkers, current: [] }).assignments.map((a) => ({
      ...a,
      epoch: 1 + r.n(4),
    }));
    if (r.chance(0.3) && integrations.length > 0) {
      current.push({ key: "gone.deleted", replica: 0, worker: "w-0", epoch: 7 });
      current.push({ key: r.pick(integrations).key, replica: 99, worker: "w-0", epoch: 2 });
    }
  }
  return { integrations, workers, current };
}

/** The same input with every array and every label object in another order. */
export function shuffled(r: Rand, input: PlacementInput): PlacementInput {
  const obj = (o: Record<string, string>) => Object.fromEntries(r.shuffle(Object.entries(o)));
  return {
    integrations: r
      .shuffle(input.integrations)
      .map((i) => ({ ...i, ...(i.pinLabels ? { pinLabels: obj(i.pinLabels) } : {}) })),
    workers: r.shuffle(input.workers).map((w) => ({ ...w, labels: obj(w.labels) })),
    current: r.shuffle(input.current),
  };
}

/** Seeds: fixed, so a failure names an input that reproduces it. */
export const seeds = (n: number, base: number) => Array.from({ length: n }, (_, i) => base + i * 7919);
