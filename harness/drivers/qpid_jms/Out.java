// Events out: one JSON object per line on stdout, flushed per line, stamped with
// System.nanoTime() (CLOCK_MONOTONIC on Linux, the harness's clock).

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

final class Out {
    private static final PrintStream OUT = new PrintStream(System.out, false, StandardCharsets.UTF_8);

    private Out() {
    }

    static Map<String, Object> fields(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static void emit(String kind, Map<String, Object> fields) {
        emit(kind, System.nanoTime(), fields);
    }

    static void emit(String kind, long tNs, Map<String, Object> fields) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("t_ns", tNs);
        e.put("kind", kind);
        e.putAll(fields);
        String line = Json.write(e);
        synchronized (OUT) {
            OUT.print(line);
            OUT.print('\n');
            OUT.flush();
        }
    }
}
