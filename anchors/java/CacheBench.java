// Scenario `cache` (harness/scenarios/cache.cpp) with Caffeine
// (impl `caffeine`): a LoadingCache whose entries refresh after ttl
// (refreshAfterWrite: the old value is served while one reload runs) and
// expire after ttl + grace (expireAfterWrite) — the same freshness contract
// as coalescing_cache's ttl and stale-while-revalidate grace. The backend
// counts calls and sleeps loader_us, as the C++ backend does. Defaults are
// the C++ scenario's: loader_us 1000, ttl_us 5000, grace_us 5000, capacity
// 10000; its records carry the knobs beta=0, refresh=async (see KNOBS).
// Executor: Executors.newCachedThreadPool (a waiting thread takes the
// refresh, or a new thread starts), the executor refresh=async gives ours
// (contenders::refresh_pool). Not Caffeine's default, ForkJoinPool.commonPool():
// where the common pool's parallelism is 1 (any 2-CPU machine) CompletableFuture
// does not use it but starts a new thread per async task (the JDK's
// ThreadPerTaskExecutor). Here that thread started late behind the readers,
// so every refresh came 2–4 ms past refreshAfterWrite (the
// next load 7.0–9.2 ms after the previous one ended, in medians of different
// runs, not 5.1 ms: fewer backend calls for staler values) and every
// maintenance run started a thread too
// (RefreshProbe.java measures the gap for each executor).
// Not one dedicated thread either: Caffeine 2.6 pushes an entry's write time
// far ahead while its refresh is pending, so with refreshes queued behind one
// thread its entries outlived expireAfterWrite (hit ratio 0.999 where the
// contract allows ~0.6).
// Keys are the trace's, boxed before the clock starts.
// Invariant: every read returns the backend's value for its key (key*2+1).
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
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
    final ExecutorService refresher = Executors.newCachedThreadPool(r -> {
      final Thread th = new Thread(r, "caffeine-refresh");
      th.setDaemon(true);
      return th;
    });
    try {
      return run(backend, refresher, threads, keys, duration, warmup, out);
    } finally {
      refresher.shutdownNow();  // refreshes still running are interrupted; the cache goes with them
    }
  }

  private static Map<String, Object> run(Backend backend, ExecutorService refresher, int threads, long[][] keys,
      double duration, double warmup, Loop.Measurement[] out) throws Exception {
    // A task handed over after shutdownNow() (a refresh that completed after the
    // run schedules Caffeine's maintenance) runs on the caller instead of being
    // rejected: Caffeine would log the rejection as a warning.
    final Executor executor = task -> {
      try {
        refresher.execute(task);
      } catch (RejectedExecutionException afterTheRun) {
        task.run();
      }
    };
    final LoadingCache<Long, Long> cache = Caffeine.newBuilder()
        .executor(executor)
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
    // Loads are counted over the measured window only, as cache.cpp counts
    // them: the JIT warm-up is longer than the C++ warm-up, so counts that
    // included it would compare unlike spans.
    final long[] callsAtStart = new long[1];
    final Loop.Measurement m = Loop.run(threads, duration, warmup, t -> workers[t] = new ReadWorker(cache, boxed[t]),
        () -> callsAtStart[0] = backend.calls.sum());
    final long callsAtEnd = backend.calls.sum();
    long wrong = 0;
    for (ReadWorker w : workers) wrong += w.wrong;
    if (wrong != 0)
      throw new Counters.InvariantViolated("cache/caffeine: " + wrong + " reads returned a value not the backend's");
    final CacheStats st = cache.stats();
    final long reads = Math.max(1, st.requestCount());
    final long calls = callsAtEnd - callsAtStart[0];
    out[0] = m;
    final Map<String, Object> metrics = Results.object();
    metrics.put("backend_calls", calls);
    metrics.put("backend_calls_warmup", callsAtStart[0]);
    metrics.put("backend_calls_per_second", m.seconds > 0 ? calls / m.seconds : 0.0);
    metrics.put("backend_calls_per_read", (double) callsAtEnd / reads);
    metrics.put("hit_ratio", st.hitRate());
    metrics.put("errors", 0);
    metrics.put("reads", st.requestCount());
    metrics.put("refresh_after_write_us", TTL_US);
    metrics.put("expire_after_write_us", TTL_US + GRACE_US);
    metrics.put("executor", "Executors.newCachedThreadPool");
    metrics.put("refresh_threads", ((ThreadPoolExecutor) refresher).getLargestPoolSize());
    return metrics;
  }
}
