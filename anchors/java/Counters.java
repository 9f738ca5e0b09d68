// Scenarios `counter` and `keyed-counter` (harness/scenarios/counters.cpp) with
// the JVM's counters: LongAdder (java_longadder), AtomicLong (java_atomiclong)
// and ConcurrentHashMap<Long, LongAdder> (java_chm_longadder).
//
// counter — C counters; op i adds 1 to counter (key_i mod C) (C = 1: no key
// is read, as in C++). keyed-counter — op i adds 1 to the adder of key_i,
// created on first use with the JVM idiom get-then-computeIfAbsent. Keys are
// the trace's, replayed cyclically (i & mask), boxed to Long before the clock
// starts (a service would hold Long keys already).
// Invariant: after join, the sum of all reads equals every call made
// (warm-up included); a mismatch fails the run.
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

final class Counters {
  private Counters() {}

  static final class InvariantViolated extends RuntimeException {
    private static final long serialVersionUID = 1L;

    InvariantViolated(String message) {
      super(message);
    }
  }

  private static final class AdderWorker extends Loop.Worker {
    private final LongAdder[] counters;
    private final long[] keys;
    private final int mask;

    AdderWorker(LongAdder[] counters, long[] keys) {
      this.counters = counters;
      this.keys = keys;
      this.mask = keys.length - 1;
    }

    @Override
    void run(long i, int n) {
      if (counters.length == 1) {
        final LongAdder c = counters[0];
        for (int j = 0; j < n; ++j) c.increment();
      } else {
        for (int j = 0; j < n; ++j)
          counters[(int) Long.remainderUnsigned(keys[(int) ((i + j) & mask)], counters.length)].increment();
      }
    }
  }

  private static final class AtomicWorker extends Loop.Worker {
    private final AtomicLong[] counters;
    private final long[] keys;
    private final int mask;

    AtomicWorker(AtomicLong[] counters, long[] keys) {
      this.counters = counters;
      this.keys = keys;
      this.mask = keys.length - 1;
    }

    @Override
    void run(long i, int n) {
      if (counters.length == 1) {
        final AtomicLong c = counters[0];
        for (int j = 0; j < n; ++j) c.getAndIncrement();
      } else {
        for (int j = 0; j < n; ++j)
          counters[(int) Long.remainderUnsigned(keys[(int) ((i + j) & mask)], counters.length)].getAndIncrement();
      }
    }
  }

  private static final class MapWorker extends Loop.Worker {
    private final ConcurrentHashMap<Long, LongAdder> map;
    private final Long[] keys;
    private final int mask;

    MapWorker(ConcurrentHashMap<Long, LongAdder> map, Long[] keys) {
      this.map = map;
      this.keys = keys;
      this.mask = keys.length - 1;
    }

    @Override
    void run(long i, int n) {
      for (int j = 0; j < n; ++j) {
        final Long k = keys[(int) ((i + j) & mask)];
        LongAdder a = map.get(k);
        if (a == null) a = map.computeIfAbsent(k, x -> new LongAdder());
        a.increment();
      }
    }
  }

  // keys: per thread, a power-of-two length (ignored when counters == 1).
  static Map<String, Object> counter(String impl, int threads, int counters, long[][] keys, double duration,
      double warmup, Loop.Measurement[] out) throws Exception {
    final Loop.Measurement m;
    final long observed;
    final double readNs;
    if (impl.equals("java_longadder")) {
      final LongAdder[] cs = new LongAdder[counters];
      for (int c = 0; c < counters; ++c) cs[c] = new LongAdder();
      m = Loop.run(threads, duration, warmup, t -> new AdderWorker(cs, keys[t]));
      long sum = 0;
      for (LongAdder c : cs) sum += c.sum();
      observed = sum;
      readNs = Loop.timeReads(cs[0]::sum);
    } else if (impl.equals("java_atomiclong")) {
      final AtomicLong[] cs = new AtomicLong[counters];
      for (int c = 0; c < counters; ++c) cs[c] = new AtomicLong();
      m = Loop.run(threads, duration, warmup, t -> new AtomicWorker(cs, keys[t]));
      long sum = 0;
      for (AtomicLong c : cs) sum += c.get();
      observed = sum;
      readNs = Loop.timeReads(cs[0]::get);
    } else {
      throw new IllegalArgumentException("--impl: '" + impl + "' is not a counter");
    }
    if (observed != m.totalCalls)
      throw new InvariantViolated("counter/" + impl + ": observed " + observed + " != expected " + m.totalCalls);
    out[0] = m;
    final Map<String, Object> metrics = Results.object();
    metrics.put("expected", m.totalCalls);
    metrics.put("observed", observed);
    metrics.put("counters", counters);
    metrics.put("read_ns", readNs);
    return metrics;
  }

  // A trace's keys as Long objects, one per distinct key (as a service's key
  // objects), built once per trace and reused by every run on it.
  private static final class Boxed {
    final Long[][] keys;
    final int distinct;
    final Long hottest;  // the key thread 0 draws most often among its first 4096: what read_ns reads

    Boxed(long[][] raw) {
      final Map<Long, Long> boxes = new HashMap<>();
      keys = new Long[raw.length][];
      for (int t = 0; t < raw.length; ++t) {
        keys[t] = new Long[raw[t].length];
        for (int i = 0; i < raw[t].length; ++i) keys[t][i] = boxes.computeIfAbsent(raw[t][i], k -> k);
      }
      distinct = boxes.size();
      final Map<Long, Integer> freq = new HashMap<>();
      Long hot = keys[0][0];
      for (int i = 0; i < Math.min(4096, keys[0].length); ++i)
        if (freq.merge(keys[0][i], 1, Integer::sum) > freq.getOrDefault(hot, 0)) hot = keys[0][i];
      hottest = hot;
    }
  }

  private static final Map<long[][], Boxed> BOXED = new IdentityHashMap<>();

  static Map<String, Object> keyed(String impl, int threads, long[][] keys, double duration, double warmup,
      Loop.Measurement[] out) throws Exception {
    if (!impl.equals("java_chm_longadder"))
      throw new IllegalArgumentException("--impl: '" + impl + "' is not a keyed counter");
    final Boxed b = BOXED.computeIfAbsent(keys, Boxed::new);
    final Long[][] boxed = b.keys;
    final Long hottest = b.hottest;
    final ConcurrentHashMap<Long, LongAdder> map = new ConcurrentHashMap<>(b.distinct);
    final Loop.Measurement m = Loop.run(threads, duration, warmup, t -> new MapWorker(map, boxed[t]));
    long observed = 0;
    for (LongAdder a : map.values()) observed += a.sum();
    if (observed != m.totalCalls)
      throw new InvariantViolated("keyed-counter/" + impl + ": observed " + observed + " != expected " + m.totalCalls);
    out[0] = m;
    final Map<String, Object> metrics = Results.object();
    metrics.put("expected", m.totalCalls);
    metrics.put("observed", observed);
    metrics.put("rejected", 0);
    metrics.put("distinct_keys", b.distinct);
    metrics.put("read_ns", Loop.timeReads(() -> {
      final LongAdder a = map.get(hottest);
      return a == null ? 0 : a.sum();
    }));
    return metrics;
  }
}
