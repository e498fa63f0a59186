import { inputError } from "../errors.js";

export interface CaseCacheOptions {
  /** Number of cases the loader can produce (indices 0..caseCount−1). */
  caseCount: number;
  /** Share of cases kept in memory, in (0, 1]. */
  cacheRate: number;
}

/**
 * A worker's store of preprocessed cases, after MONAI's CacheDataset: the first ceil(cacheRate·caseCount)
 * distinct cases asked for stay in memory for the whole run; any other case is loaded from disk each time
 * it is needed and dropped after use, so memory is bounded by the rate. A fixed set (rather than LRU)
 * suits shuffled epochs, where LRU would evict exactly the cases about to be reused.
 */
export class CaseCache<T> {
  readonly capacity: number;
  private readonly kept = new Map<number, Promise<T>>();
  private readonly inFlight = new Map<number, Promise<T>>();
  hits = 0;
  loads = 0;

  constructor(
    private readonly load: (index: number) => Promise<T>,
    readonly options: CaseCacheOptions,
  ) {
    const { caseCount, cacheRate } = options;
    if (!(cacheRate > 0 && cacheRate <= 1)) throw inputError("--cache-rate", `must be in (0, 1], got ${cacheRate}`);
    if (!Number.isInteger(caseCount) || caseCount < 0)
      throw inputError("cache", `caseCount must be a non-negative integer, got ${caseCount}`);
    this.capacity = Math.ceil(cacheRate * caseCount);
  }

  get size(): number {
    return this.kept.size;
  }

  has(index: number): boolean {
    return this.kept.has(index);
  }

  get(index: number): Promise<T> {
    if (!Number.isInteger(index) || index < 0 || index >= this.options.caseCount) {
      return Promise.reject(new RangeError(`case index ${index} outside 0..${this.options.caseCount - 1}`));
    }
    const kept = this.kept.get(index);
    if (kept) {
      this.hits++;
      return kept;
    }
    // Two steps asking for the same uncached case at once share one load.
    const pending = this.inFlight.get(index);
    if (pending) return pending;
    this.loads++;
    const loading = this.load(index);
    if (this.kept.size < this.capacity) {
      this.kept.set(index, loading);
      // A failed load must not poison the cache: the next get retries.
      loading.catch(() => this.kept.delete(index));
      return loading;
    }
    this.inFlight.set(index, loading);
    const forget = () => this.inFlight.delete(index);
    loading.then(forget, forget);
    return loading;
  }
}
