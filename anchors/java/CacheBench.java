// Scenario `cache` (harness/scenarios/cache.cpp) with Caffeine
// (impl `caffeine`): a LoadingCache whose entries refresh after ttl
// (refreshAfterWrite: the old value is served while one reload runs) and
// expire after ttl + grace (expireAfterWrite) — the same freshness contract
// as coalescing_cache's ttl and stale-while-revalidate grace. The backend
// counts calls and sleeps loader_us, as the C++ backend does. Defaults are
// the C++ scenario's: loader_us 1000, ttl_us 5000, grace_us 5000, capacity
// 10000; its records carry the knobs beta=0, refresh=async (see KNOBS).
// Keys are the trace's, boxed before the clock starts.
// Invariant: every read returns the backend's value for its key (key*2+1).
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

final class CacheBench {
  private CacheBench() {}

  static final long LOADER_US = 1000, TTL_US = 5000, GRACE_US = 5000, CAPACITY = 10000;

  // Caffeine's contract in the C++ cache scenario's terms: no early refresh
  // (beta 0) and reloads on an executor, the caller served the old value
  // (refresh=async). The records carry these knobs, so summary.md and
  // headline.md set them beside coalescing_cache run the same way.
  static final Map<String, String> KNOBS = Map.of("beta", "0", "refresh", "async");

  private static final class Backend {
    final LongAdder calls = new LongAdder();

    Long load(Long key) {
      calls.increment();
      final long until = System.nanoTime() + LOADER_US * 1000;
      for (long left = LOADER_US * 1000; left > 0; left = until - System.nanoTime()) LockSupport.parkNanos(left);
      return key * 2 + 1;
    }
  }

  private static final class ReadWorker extends Loop.Worker {
    private final LoadingCache<Long, Long> cache;
    private final Long[] keys;
    private final int mask;
    long wrong;

    ReadWorker(LoadingCache<Long, Long> cache, Long[] keys) {
      this.cache = cache;
      this.keys = keys;
      this.mask = keys.length - 1;
    }

    @Override
    void run(long i, int n) {
      for (int j = 0; j < n; ++j) {
        final Long k = keys[(int) ((i + j) & mask)];
        final Long v = cache.get(k);
        if (v == null || v != k * 2 + 1) ++wrong;
      }
    }
  }

  static Map<String, Object> run(String impl, int threads, long[][] keys, double duration, double warmup,
      Loop.Measurement[] out) throws Exception {
    if (!impl.equals("caffeine")) throw new IllegalArgumentException("--impl: '" + impl + "' is not a cache");
    final Backend backend = new Backend();
    final LoadingCache<Long, Long> cache = Caffeine.newBuilder()
        .maximumSize(CAPACITY)
        .refreshAfterWrite(TTL_US, TimeUnit.MICROSECONDS)
        .expireAfterWrite(TTL_US + GRACE_US, TimeUnit.MICROSECONDS)
        .recordStats()
        .build(backend::load);
    final Long[][] boxed = new Long[threads][];
    for (int t = 0; t < threads; ++t) {
      boxed[t] = new Long[keys[t].length];
      for (int i = 0; i < keys[t].length; ++i) boxed[t][i] = keys[t][i];
    }
    final ReadWorker[] workers = new ReadWorker[threads];
    final Loop.Measurement m = Loop.run(threads, duration, warmup, t -> workers[t] = new ReadWorker(cache, boxed[t]));
    long wrong = 0;
    for (ReadWorker w : workers) wrong += w.wrong;
    if (wrong != 0)
      throw new Counters.InvariantViolated("cache/" + impl + ": " + wrong + " reads returned a value not the backend's");
    final CacheStats st = cache.stats();
    final long reads = Math.max(1, st.requestCount());
    final long calls = backend.calls.sum();
    out[0] = m;
    final Map<String, Object> metrics = Results.object();
    metrics.put("backend_calls", calls);
    metrics.put("backend_calls_per_read", (double) calls / reads);
    metrics.put("hit_ratio", st.hitRate());
    metrics.put("errors", 0);
    metrics.put("reads", st.requestCount());
    metrics.put("refresh_after_write_us", TTL_US);
    metrics.put("expire_after_write_us", TTL_US + GRACE_US);
    return metrics;
  }
}
