// The suite's binary trace (workloads/include/hotshard/workloads/trace.hpp):
// a 20-byte header — "HSTRACE\0", u32 version 1, u64 record count, all
// little-endian — then `count` records of 9 bytes: u64 key, u8 op (0..3).
// `hotshard-bench trace gen SPEC --threads T` interleaves the thread streams:
// record i*T + t is thread t's i-th key, the same key generate_keys() hands
// thread t of a T-thread C++ run with the same spec and seed.
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

final class Trace {
  static final int HEADER_BYTES = 20;
  static final int RECORD_BYTES = 9;
  private static final byte[] MAGIC = {'H', 'S', 'T', 'R', 'A', 'C', 'E', 0};

  static final class TraceError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    TraceError(String message) {
      super(message);
    }
  }

  private Trace() {}

  // keys[t][i] = the key of record i*threads + t, for i < perThread. Every
  // byte is checked: a malformed file is a TraceError naming the byte offset.
  static long[][] load(Path file, int threads, int perThread) throws IOException {
    final byte[] all = Files.readAllBytes(file);
    final ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    if (all.length < HEADER_BYTES) fail(file, all.length, "truncated header (20 bytes expected)");
    for (int k = 0; k < MAGIC.length; ++k)
      if (all[k] != MAGIC[k]) fail(file, k, "bad magic (not a binary hotshard trace)");
    final int version = b.getInt(8);
    if (version != 1) fail(file, 8, "unsupported version " + Integer.toUnsignedString(version));
    final long count = b.getLong(12);
    final long expected = HEADER_BYTES + count * RECORD_BYTES;
    if (count < 0 || expected != all.length)
      fail(file, Math.min(all.length, Math.max(expected, 0)),
          "the header declares " + Long.toUnsignedString(count) + " records but the file has " + all.length + " bytes");
    if (count < (long) threads * perThread)
      fail(file, 12, count + " records, " + threads + " x " + perThread + " needed");
    final long[][] keys = new long[threads][perThread];
    for (int t = 0; t < threads; ++t) {
      for (int i = 0; i < perThread; ++i) {
        final int off = HEADER_BYTES + (i * threads + t) * RECORD_BYTES;
        if ((all[off + 8] & 0xff) > 3) fail(file, off + 8, "invalid op code " + (all[off + 8] & 0xff));
        keys[t][i] = b.getLong(off);
      }
    }
    return keys;
  }

  private static void fail(Path file, long offset, String what) {
    throw new TraceError(file + ": byte offset " + offset + ": " + what);
  }
}
