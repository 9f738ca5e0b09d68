// When does Caffeine refresh? Two threads read one hot key of a LoadingCache
// with refreshAfterWrite(5 ms) and expireAfterWrite(10 ms) for 2 s; the
// loader sleeps 1 ms (the cache scenario's knobs) and stamps when each load
// starts and ends. Printed: reads/s, loads, and the median (p10, p90) gap from
// the end of one load to the start of the next: refreshAfterWrite plus the
// delay before the executor runs the reload. The executor is the argument:
//   default  Caffeine's own (ForkJoinPool.commonPool(); where its parallelism
//            is 1, CompletableFuture runs each task on a new thread instead)
//   pool     Executors.newCachedThreadPool() (what CacheBench uses)
//   single   Executors.newSingleThreadExecutor()
// Not part of the suite: the measurement behind CacheBench's choice of
// executor (anchors/README.md). Run after scripts/anchors.sh built it:
//   java -cp build/anchors/java:/usr/share/java/caffeine.jar RefreshProbe default
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import java.util.Arrays;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

final class RefreshProbe {
  private RefreshProbe() {}

  private static final int MAX_LOADS = 4096;
  private static final long[] loadStart = new long[MAX_LOADS], loadEnd = new long[MAX_LOADS];
  private static volatile int loads;  // one load at a time on one key: written by the loading thread only
  private static volatile boolean stop;

  private static Long load(Long key) {
    final int i = loads;
    final long start = System.nanoTime();
    final long until = start + 1_000_000;
    for (long left = until - start; left > 0; left = until - System.nanoTime()) LockSupport.parkNanos(left);
    if (i < MAX_LOADS) {
      loadStart[i] = start;
      loadEnd[i] = System.nanoTime();
    }
    loads = i + 1;
    return key * 2 + 1;
  }

  public static void main(String[] args) throws Exception {
    final String mode = args.length > 0 ? args[0] : "default";
    final ThreadFactory daemons = r -> {
      final Thread th = new Thread(r);
      th.setDaemon(true);  // left running at exit: no shutdown racing a completing refresh
      return th;
    };
    final ExecutorService owned = mode.equals("pool") ? Executors.newCachedThreadPool(daemons)
        : mode.equals("single") ? Executors.newSingleThreadExecutor(daemons) : null;
    if (owned == null && !mode.equals("default")) {
      System.err.println("RefreshProbe: error: executor '" + mode + "' is not one of default, pool, single");
      System.exit(2);
    }
    final Executor executor = owned != null ? owned : ForkJoinPool.commonPool();
    final LoadingCache<Long, Long> cache = Caffeine.newBuilder()
        .executor(executor)
        .refreshAfterWrite(5000, TimeUnit.MICROSECONDS)
        .expireAfterWrite(10000, TimeUnit.MICROSECONDS)
        .build(RefreshProbe::load);
    final Long key = 7L;
    final long[] reads = new long[2];
    final Thread[] readers = new Thread[2];
    for (int t = 0; t < 2; ++t) {
      final int tid = t;
      readers[t] = new Thread(() -> {
        long n = 0, sink = 0;
        while (!stop) {
          sink += cache.get(key);
          ++n;
        }
        reads[tid] = n + (sink == 42 ? 1 : 0);
      });
      readers[t].start();
    }
    Thread.sleep(2000);
    stop = true;
    for (Thread r : readers) r.join();
    final int n = Math.min(loads, MAX_LOADS);
    if (n < 3) {
      System.err.println("RefreshProbe: error: only " + n + " loads in 2 s");
      System.exit(1);
    }
    final double[] gap = new double[n - 1];
    for (int i = 1; i < n; ++i) gap[i - 1] = (loadStart[i] - loadEnd[i - 1]) / 1e3;
    Arrays.sort(gap);
    System.out.printf("%s: %.1f M reads/s, %d loads in 2 s; end of a load to the next start: median %.0f us "
            + "(p10 %.0f, p90 %.0f); refreshAfterWrite 5000 us%n",
        mode, (reads[0] + reads[1]) / 2e6, n, gap[gap.length / 2], gap[gap.length / 10], gap[9 * gap.length / 10]);
  }
}
