// hotshard's JVM reference driver: the counter, keyed-counter and cache
// scenarios with LongAdder, AtomicLong, ConcurrentHashMap<Long, LongAdder>
// and Caffeine, on the key streams of the C++ suite (binary traces written by
// `hotshard-bench trace gen`), written as hotshard.results/1.
//
//   java Anchors --list-traces [--quick|--full|--smoke]
//       prints, one per line, SPEC <tab> THREADS <tab> RECORDS <tab> FILE:
//       the traces the plan reads (seed 1, the C++ runs' repetition-0 seed).
//   java Anchors --traces DIR --out FILE [--quick|--full|--smoke]
//       [--duration S] [--repetitions R] [--git SHA]
//
// JIT warm-up: before the first measured repetition the whole plan runs once
// untimed, jit_warmup_seconds per (step, threads, impl) (0.3 s quick, 0.5 s
// full) — millions of calls, far past C2's compile thresholds, and at every
// thread count, so the contended paths (LongAdder's cells) are compiled too.
// Each measured run then warms up untimed for at least 0.3 s (the C++
// runner's 10% of the duration, at most 0.5 s, when that is longer): every
// run builds fresh structures, whose first calls can take a path C2 compiled
// as an uncommon trap (a miss in a new map), and -XX:+PrintCompilation shows
// the deoptimized loop back at C2 within ~0.15 s here. Repetitions are
// interleaved: rep 0 of every (step, threads, impl), then rep 1, ...
// Exit: 0 ok; 1 an invariant failed or a run threw (the JSON is still written,
// with "errors"); 2 bad arguments or traces.
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

public final class Anchors {
  private Anchors() {}

  static final class Step {
    final String scenario, workload;
    final int[] threads;
    final String[] impls;
    final int counters;  // counter scenario only
    final double seconds;

    Step(String scenario, String workload, int[] threads, String[] impls, int counters, double seconds) {
      this.scenario = scenario;
      this.workload = workload;
      this.threads = threads;
      this.impls = impls;
      this.counters = counters;
      this.seconds = seconds;
    }

    // Keys each thread pre-loads, as the C++ scenario does: counters.cpp's
    // keys_per_thread (about 4 Mi keys over all threads), the cache's 65536.
    int keysPerThread(int t, boolean smoke) {
      if (scenario.equals("counter") && counters == 1) return 0;
      int k;
      if (scenario.equals("cache")) {
        k = 1 << 16;
      } else {
        final int share = (1 << 22) / Math.max(1, t);
        k = Integer.highestOneBit(Math.max(1 << 12, Math.min(1 << 20, share)));
      }
      return smoke ? Math.min(k, 1 << 12) : k;
    }
  }

  static final double RUN_WARMUP_SECONDS = 0.3;
  private static final java.lang.management.RuntimeMXBean UPTIME =
      java.lang.management.ManagementFactory.getRuntimeMXBean();

  static final String[] COUNTERS = {"java_longadder", "java_atomiclong"};
  static final String[] KEYED = {"java_chm_longadder"};
  static final String[] CACHES = {"caffeine"};

  // The C++ suite's plans (counters.cpp, herd.cpp, cache.cpp), plus the cache on
  // one hot key (uniform:n=1) for the hit-throughput comparison.
  static List<Step> plan(String mode) {
    final List<Step> s = new ArrayList<>();
    final boolean full = mode.equals("full");
    if (mode.equals("smoke")) {
      s.add(new Step("counter", "uniform:n=1", new int[] {2}, COUNTERS, 1, 0.05));
      s.add(new Step("keyed-counter", "zipf:n=1000000,s=0.99", new int[] {2}, KEYED, 0, 0.05));
      s.add(new Step("cache", "uniform:n=1", new int[] {2}, CACHES, 0, 0.05));
      s.add(new Step("cache", "zipf:n=1000,s=0.99", new int[] {2}, CACHES, 0, 0.05));
      return s;
    }
    final int[] counterThreads = full ? new int[] {1, 2, 4, 16, 64} : new int[] {1, 2, 4, 16};
    final double cs = full ? 1.0 : 0.2;
    s.add(new Step("counter", "uniform:n=1", counterThreads, COUNTERS, 1, cs));
    if (full) s.add(new Step("counter", "zipf:n=1000000,s=0.99", counterThreads, COUNTERS, 1024, cs));
    s.add(new Step("keyed-counter", "zipf:n=1000000,s=0.99", counterThreads, KEYED, 0, cs));
    if (full) s.add(new Step("keyed-counter", "uniform:n=1000000", counterThreads, KEYED, 0, cs));
    s.add(new Step("cache", "uniform:n=1", full ? new int[] {2, 16} : new int[] {2}, CACHES, 0, full ? 1.0 : 0.3));
    s.add(new Step("cache", "zipf:n=1000,s=0.99", full ? new int[] {2, 16, 64} : new int[] {16, 64}, CACHES, 0,
        full ? 1.0 : 0.3));
    if (full) s.add(new Step("cache", "zipf:n=100000,s=0.99", new int[] {16, 64}, CACHES, 0, 1.0));
    return s;
  }

  static String traceFile(String spec, int threads, int perThread) {
    return spec.replaceAll("[^A-Za-z0-9]+", "_") + "-t" + threads + "-k" + perThread + ".trace";
  }

  private static int usage(String message) {
    System.err.println("anchors-java: error: " + message);
    return 2;
  }

  public static void main(String[] args) {
    int rc;
    try {
      rc = drive(args);
    } catch (Trace.TraceError e) {
      rc = usage(e.getMessage());
    } catch (java.nio.file.NoSuchFileException e) {
      rc = usage("trace " + e.getFile() + " does not exist (scripts/anchors.sh generates the traces)");
    } catch (Exception e) {
      System.err.println("anchors-java: " + e);
      rc = 1;
    }
    System.exit(rc);
  }

  private static int drive(String[] args) throws Exception {
    String mode = "quick", traces = null, out = null, git = "unknown";
    double duration = -1;
    int repetitions = -1;
    boolean list = false;
    for (int a = 0; a < args.length; ++a) {
      final String f = args[a];
      final boolean hasValue = a + 1 < args.length;
      switch (f) {
        case "--quick": case "--full": case "--smoke": mode = f.substring(2); break;
        case "--list-traces": list = true; break;
        case "--traces": case "--out": case "--git": case "--duration": case "--repetitions":
          if (!hasValue) return usage(f + ": a value is required");
          final String v = args[++a];
          try {
            if (f.equals("--traces")) traces = v;
            else if (f.equals("--out")) out = v;
            else if (f.equals("--git")) git = v;
            else if (f.equals("--duration")) duration = Double.parseDouble(v);
            else repetitions = Integer.parseInt(v);
          } catch (NumberFormatException e) {
            return usage(f + ": '" + v + "' is not a number");
          }
          if (f.equals("--duration") && !(duration > 0)) return usage("--duration: '" + v + "' must be > 0");
          if (f.equals("--repetitions") && repetitions < 1) return usage("--repetitions: '" + v + "' must be >= 1");
          break;
        default:
          return usage("unknown argument '" + f + "' (accepted: --list-traces, --traces DIR, --out FILE, "
              + "--quick, --full, --smoke, --duration S, --repetitions R, --git SHA)");
      }
    }
    final boolean smoke = mode.equals("smoke");
    final List<Step> plan = plan(mode);
    if (list) {
      final Set<String> seen = new LinkedHashSet<>();
      for (Step st : plan)
        for (int t : st.threads) {
          final int k = st.keysPerThread(t, smoke);
          if (k > 0) seen.add(st.workload + "\t" + t + "\t" + ((long) k * t) + "\t" + traceFile(st.workload, t, k));
        }
      seen.forEach(System.out::println);
      return 0;
    }
    if (traces == null) return usage("--traces DIR is required (or --list-traces)");
    if (out == null) return usage("--out FILE is required");
    if (repetitions < 0) repetitions = smoke ? 1 : mode.equals("full") ? 5 : 3;
    final double jitWarmup = smoke ? 0.02 : mode.equals("full") ? 0.5 : 0.3;
    final String started = Results.now();

    // Every trace loaded before any clock starts.
    final Map<String, long[][]> keys = new LinkedHashMap<>();
    for (Step st : plan)
      for (int t : st.threads) {
        final int k = st.keysPerThread(t, smoke);
        final String name = traceFile(st.workload, t, k);
        if (!keys.containsKey(name))
          keys.put(name, k == 0 ? new long[t][1] : Trace.load(Path.of(traces, name), t, k));
      }

    final List<Object> records = new ArrayList<>();
    final List<Object> errors = new ArrayList<>();
    for (int rep = -1; rep < repetitions; ++rep) {  // rep -1: the untimed JIT pass
      for (Step st : plan) {
        final double seconds = rep < 0 ? jitWarmup : duration > 0 ? duration : st.seconds;
        final double warmup = Math.max(Math.min(0.5, 0.1 * seconds), smoke ? 0 : RUN_WARMUP_SECONDS);
        for (int t : st.threads) {
          for (String impl : st.impls) {
            final long[][] k = keys.get(traceFile(st.workload, t, st.keysPerThread(t, smoke)));
            final Loop.Measurement[] m = new Loop.Measurement[1];
            try {
              final Map<String, Object> metrics;
              if (st.scenario.equals("counter")) metrics = Counters.counter(impl, t, st.counters, k, seconds, warmup, m);
              else if (st.scenario.equals("keyed-counter")) metrics = Counters.keyed(impl, t, k, seconds, warmup, m);
              else metrics = CacheBench.run(impl, t, k, seconds, warmup, m);
              if (rep >= 0)
                records.add(Results.record(st.scenario, impl, t, st.workload, rep,
                    st.scenario.equals("cache") ? CacheBench.KNOBS : Map.of(), m[0], metrics));
              System.err.printf("anchors-java: %s %s threads=%d %s rep=%s: %.3g ops/s (ended at %d ms)%n", st.scenario,
                  impl, t, st.workload, rep < 0 ? "jit" : Integer.toString(rep),
                  m[0].seconds > 0 ? m[0].ops / m[0].seconds : 0, UPTIME.getUptime());
            } catch (Exception e) {
              final String what = e instanceof Counters.InvariantViolated ? e.getMessage() : e.toString();
              System.err.println("anchors-java: FAILED " + st.scenario + "/" + impl + " threads=" + t + ": " + what);
              errors.add(Results.error(st.scenario, st.scenario + "/" + impl + " threads=" + t + ": " + what));
            }
          }
        }
      }
    }

    final Map<String, Object> config = Results.object();
    config.put("command_line", "java Anchors " + String.join(" ", args));
    config.put("driver", "anchors/java");
    config.put("mode", mode);
    config.put("repetitions", repetitions);
    config.put("seed", 1);
    config.put("jit_warmup_seconds", jitWarmup);
    config.put("run_warmup_seconds", smoke ? "10% of the duration" : "max(0.3, min(0.5, 10% of the duration))");
    config.put("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
    config.put("jvm_args", String.join(" ", java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()));
    config.put("traces", traces);
    if (duration > 0) config.put("duration_seconds", duration);
    Results.writeDocument(Path.of(out), git, config, records, errors, started);
    return errors.isEmpty() ? 0 : 1;
  }
}
