// The measured loop, the same shape as harness/include/hotshard/harness/runner.hpp
// in duration mode:
//  1. T threads start; each builds its worker (keys already loaded: nothing
//     here is timed).
//  2. Warm-up (untimed) for `warmupSeconds`; its ns/op picks the latency
//     sampling period: the power of two, 1..4096, that keeps two clock reads
//     per sample under ~1% of an op.
//  3. All threads meet at a barrier; the clock starts when the last arrives
//     (and onStart runs, if given).
//  4. Measured loop until the controller raises `stop` after `duration`:
//     one timed op, then period-1 untimed ones, looking at the flag every
//     block of at least 64 ops.
//  5. Counts and latency samples live in each thread's own slot, merged after
//     join.
// The per-op loop lives in each Worker subclass (run(i, n)), so the JIT
// compiles every implementation's loop monomorphic; a shared loop calling an
// interface method per op would turn megamorphic across implementations and
// pay a virtual call per op that the C++ templates do not.
import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

final class Loop {
  private Loop() {}

  abstract static class Worker {
    // Performs operations i .. i+n-1 of this thread.
    abstract void run(long i, int n) throws Exception;
  }

  interface WorkerFactory {
    Worker make(int thread) throws Exception;
  }

  static final class Measurement {
    long ops;          // measured, all threads
    long totalCalls;   // measured + warm-up, all threads
    double seconds;
    long maxLatency;
    long[] samples = new long[0];  // sorted

    long percentile(double q) {
      if (samples.length == 0) return 0;
      final int k = (int) Math.ceil(q * samples.length) - 1;
      return samples[Math.max(0, Math.min(samples.length - 1, k))];
    }
  }

  private static final int MAX_SAMPLES = 1 << 16;  // per thread, a ring: the latest are kept

  private static final class Slot {
    long measured, calls, end, max;
    long[] ring = new long[MAX_SAMPLES];
    long taken;
  }

  private static double clockReadNs = -1;

  private static synchronized double clockReadNs() {
    if (clockReadNs < 0) {
      final long t0 = System.nanoTime();
      long sink = 0;
      for (int k = 0; k < 20000; ++k) sink += System.nanoTime();
      final double per = (System.nanoTime() - t0) / 20001.0 + (sink == 42 ? 1 : 0);
      clockReadNs = per > 0 ? per : 1;
    }
    return clockReadNs;
  }

  static long samplePeriod(double opNs) {
    if (!(opNs > 0)) return 64;
    final double want = (2 * clockReadNs() + 2) / (0.01 * opNs);
    long p = 1;
    while (p < 4096 && p < want) p <<= 1;
    return p;
  }

  private static volatile boolean stop;  // written only by the controller; results travel by join()

  static Measurement run(int threads, double duration, double warmupSeconds, WorkerFactory factory)
      throws Exception {
    return run(threads, duration, warmupSeconds, factory, () -> {});
  }

  // onStart runs once, at the instant the clock starts (the barrier's action,
  // after every warm-up, before any measured op): runner.hpp's on_start, for a
  // count that must cover the measured window only (CacheBench's backend calls).
  static Measurement run(int threads, double duration, double warmupSeconds, WorkerFactory factory,
      Runnable onStart) throws Exception {
    final Slot[] slots = new Slot[threads];
    final long[] start = new long[1];
    final CyclicBarrier ready = new CyclicBarrier(threads + 1, () -> {
      start[0] = System.nanoTime();
      onStart.run();
    });
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    stop = false;
    final Thread[] pool = new Thread[threads];
    for (int t = 0; t < threads; ++t) {
      final int tid = t;
      slots[t] = new Slot();
      pool[t] = new Thread(() -> {
        final Slot s = slots[tid];
        Worker w = null;
        long i = 0;
        long period = 64;
        try {
          w = factory.make(tid);
          final long w0 = System.nanoTime();
          final long until = w0 + (long) (warmupSeconds * 1e9);
          while (System.nanoTime() < until) {
            w.run(i, 64);
            i += 64;
          }
          if (i > 0) period = samplePeriod((double) (System.nanoTime() - w0) / i);
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
          w = null;
        }
        s.calls = i;
        try {
          ready.await();
        } catch (Exception e) {
          failure.compareAndSet(null, e);
          return;
        }
        if (w == null) return;
        final int rest = (int) (period - 1);
        final long periods = Math.max(1, (64 + period - 1) / period);
        long done = 0;
        try {
          while (!stop) {
            for (long b = 0; b < periods; ++b) {
              final long t0 = System.nanoTime();
              w.run(i++, 1);
              final long ns = System.nanoTime() - t0;
              s.ring[(int) (s.taken++ & (MAX_SAMPLES - 1))] = ns;
              if (ns > s.max) s.max = ns;
              if (rest > 0) w.run(i, rest);
              i += rest;
            }
            done += periods * period;
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
          stop = true;
        }
        s.end = System.nanoTime();
        s.measured = done;
        s.calls = i;
      }, "anchor-" + t);
      pool[t].start();
    }
    ready.await();
    final long deadline = start[0] + (long) (duration * 1e9);
    for (long now = System.nanoTime(); now < deadline && !stop; now = System.nanoTime())
      Thread.sleep(Math.max(1, Math.min(20, (deadline - now) / 1_000_000)));
    stop = true;
    for (Thread th : pool) th.join();
    if (failure.get() != null) throw new Exception("worker failed: " + failure.get(), failure.get());
    final Measurement m = new Measurement();
    long last = start[0];
    int n = 0;
    for (Slot s : slots) n += (int) Math.min(s.taken, MAX_SAMPLES);
    m.samples = new long[n];
    int at = 0;
    for (Slot s : slots) {
      m.ops += s.measured;
      m.totalCalls += s.calls;
      m.maxLatency = Math.max(m.maxLatency, s.max);
      last = Math.max(last, s.end);
      final int k = (int) Math.min(s.taken, MAX_SAMPLES);
      System.arraycopy(s.ring, 0, m.samples, at, k);
      at += k;
    }
    Arrays.sort(m.samples);
    m.seconds = (last - start[0]) / 1e9;
    return m;
  }

  // ns per call of read, over at least 1024 calls and 2 ms (counters.cpp's time_reads).
  interface Read {
    long read();
  }

  static double timeReads(Read read) {
    long sink = 0;
    long calls = 0;
    final long t0 = System.nanoTime();
    long t1;
    do {
      for (int k = 0; k < 256; ++k) sink += read.read();
      calls += 256;
      t1 = System.nanoTime();
    } while (calls < 1024 || t1 - t0 < 2_000_000);
    if (sink == 0x5eed) System.out.print("");  // keeps the reads alive
    return (double) (t1 - t0) / calls;
  }
}
