// hotshard.results/1 documents (harness/src/results.cpp), written by hand: a
// record is scenario, impl, threads, workload, repetition, ops, seconds,
// ops_per_sec, latency_ns {p50, p90, p99, p999, max}, metrics {...} and
// knobs {...} when the run set any.
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Results {
  private Results() {}

  // A JSON object with insertion-ordered fields; values are String, Number,
  // Boolean, Map or List.
  static Map<String, Object> object() {
    return new LinkedHashMap<>();
  }

  static String json(Object v) {
    final StringBuilder out = new StringBuilder();
    write(out, v, "");
    return out.append('\n').toString();
  }

  private static void write(StringBuilder out, Object v, String indent) {
    if (v == null) {
      out.append("null");
    } else if (v instanceof String) {
      quote(out, (String) v);
    } else if (v instanceof Double || v instanceof Float) {
      final double d = ((Number) v).doubleValue();
      out.append(Double.isFinite(d) ? Double.toString(d) : "0");
    } else if (v instanceof Number || v instanceof Boolean) {
      out.append(v);
    } else if (v instanceof Map) {
      final Map<?, ?> m = (Map<?, ?>) v;
      if (m.isEmpty()) {
        out.append("{}");
        return;
      }
      out.append("{\n");
      int k = 0;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        out.append(indent).append("  ");
        quote(out, e.getKey().toString());
        out.append(": ");
        write(out, e.getValue(), indent + "  ");
        out.append(++k < m.size() ? ",\n" : "\n");
      }
      out.append(indent).append('}');
    } else if (v instanceof List) {
      final List<?> l = (List<?>) v;
      if (l.isEmpty()) {
        out.append("[]");
        return;
      }
      out.append("[\n");
      for (int k = 0; k < l.size(); ++k) {
        out.append(indent).append("  ");
        write(out, l.get(k), indent + "  ");
        out.append(k + 1 < l.size() ? ",\n" : "\n");
      }
      out.append(indent).append(']');
    } else {
      throw new IllegalArgumentException("not a JSON value: " + v.getClass());
    }
  }

  private static void quote(StringBuilder out, String s) {
    out.append('"');
    for (int k = 0; k < s.length(); ++k) {
      final char c = s.charAt(k);
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    out.append('"');
  }

  static Map<String, Object> record(String scenario, String impl, int threads, String workload, int repetition,
      Map<String, String> knobs, Loop.Measurement m, Map<String, Object> metrics) {
    final Map<String, Object> r = object();
    r.put("scenario", scenario);
    r.put("impl", impl);
    r.put("threads", threads);
    r.put("workload", workload);
    r.put("repetition", repetition);
    r.put("ops", m.ops);
    r.put("seconds", m.seconds);
    r.put("ops_per_sec", m.seconds > 0 ? m.ops / m.seconds : 0.0);
    final Map<String, Object> lat = object();
    lat.put("p50", m.percentile(0.50));
    lat.put("p90", m.percentile(0.90));
    lat.put("p99", m.percentile(0.99));
    lat.put("p999", m.percentile(0.999));
    lat.put("max", m.maxLatency);
    r.put("latency_ns", lat);
    r.put("metrics", metrics);
    if (!knobs.isEmpty()) r.put("knobs", new LinkedHashMap<String, Object>(knobs));
    return r;
  }

  static void writeDocument(Path out, String git, Map<String, Object> config, List<Object> records,
      List<Object> errors, String started) throws IOException {
    final String jdk = System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version");
    final Map<String, Object> doc = object();
    doc.put("schema", "hotshard.results/1");
    final Map<String, Object> tool = object();
    tool.put("name", "hotshard-anchors-java");
    tool.put("version", "0.1.0");
    tool.put("git", git);
    tool.put("build", "javac " + System.getProperty("java.specification.version") + ", Caffeine "
        + caffeineVersion());
    doc.put("tool", tool);
    final Map<String, Object> machine = object();
    machine.put("cpu", cpuName());
    machine.put("cores", Runtime.getRuntime().availableProcessors());
    machine.put("os", osName());
    machine.put("compiler", jdk);
    machine.put("allocator", "JVM heap (" + gcName() + ")");
    doc.put("machine", machine);
    doc.put("started", started);
    doc.put("config", config);
    doc.put("results", records);
    if (!errors.isEmpty()) doc.put("errors", errors);
    final Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
    Files.write(tmp, json(doc).getBytes(StandardCharsets.UTF_8));
    Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  static String now() {
    return Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
  }

  static Map<String, Object> error(String scenario, String message) {
    final Map<String, Object> e = object();
    e.put("scenario", scenario);
    e.put("message", message);
    return e;
  }

  // Debian's caffeine.jar carries no version in its manifest; the symlink's
  // target (caffeine-2.6.2.jar) does.
  private static String caffeineVersion() {
    try {
      final var src = com.github.benmanes.caffeine.cache.Caffeine.class.getProtectionDomain().getCodeSource();
      final String jar = Path.of(src.getLocation().toURI()).toRealPath().getFileName().toString();
      return jar.replaceFirst("^caffeine-?", "").replaceFirst("\\.jar$", "");
    } catch (Exception e) {
      return "(version unknown)";
    }
  }

  private static String gcName() {
    final List<String> names = new ArrayList<>();
    for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) names.add(gc.getName());
    return String.join(", ", names);
  }

  private static String cpuName() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
        if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
    } catch (IOException | RuntimeException e) {
      // fall through: not Linux, or no /proc
    }
    return System.getProperty("os.arch");
  }

  private static String osName() {
    String pretty = System.getProperty("os.name");
    try {
      for (String line : Files.readAllLines(Path.of("/etc/os-release")))
        if (line.startsWith("PRETTY_NAME=")) pretty = line.substring(12).replace("\"", "");
    } catch (IOException | RuntimeException e) {
      // keep os.name
    }
    return pretty + " (" + System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
        + System.getProperty("os.arch") + ")";
  }
}
