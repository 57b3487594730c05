// How late this JVM's timers fire: what a busy machine (or a collector's pause) adds to
// every scheduled wait of the library, which the harness's own probe, in another process,
// does not see. A 50 ms task kept scheduled all along, measured on System.nanoTime() (the
// clock of t_ns), reported a window of about a second at a time, the last one before
// `stopped` (`lateness`, docs/driver-contract.md).
// jnats/Lateness.java is the same but for its emit call: the drivers share no source.

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

final class Lateness {
    static final double INTERVAL_MS = 50;
    static final long INTERVAL_NS = 50_000_000L;
    static final long WINDOW_NS = 1_000_000_000L;

    // This window's wake-ups; all fields guarded by this.
    private final List<Double> lateMs = new ArrayList<>();
    private long openedNs = System.nanoTime();
    private long dueNs = openedNs + INTERVAL_NS;
    private boolean stopped;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "lateness");
        t.setDaemon(true); // never keeps the driver up
        return t;
    });

    Lateness() {
        timer.scheduleWithFixedDelay(this::woke, INTERVAL_NS, INTERVAL_NS, TimeUnit.NANOSECONDS);
    }

    // Fixed delay: the next wake-up is due an interval after this one returns. Holds the
    // lock, as report() does, so no wake-up prints while report() runs, nor after it.
    private synchronized void woke() {
        if (stopped) {
            return;
        }
        long now = System.nanoTime();
        lateMs.add(Math.max(0.0, (now - dueNs) / 1e6));
        if (now - openedNs >= WINDOW_NS) {
            print(lateMs);
            lateMs.clear();
            openedNs = now;
        }
        dueNs = System.nanoTime() + INTERVAL_NS;
    }

    /** Stops the timer and prints the last window, if the timer fired in it. */
    synchronized void report() {
        timer.shutdown();
        stopped = true; // a wake-up running now has printed; any later one prints nothing
        print(lateMs);
    }

    private static void print(List<Double> s) {
        if (s.isEmpty()) {
            return;
        }
        s.sort(null);
        int n = s.size();
        Out.emit("lateness", Out.fields("interval_ms", INTERVAL_MS, "n", n, "p50_ms", ms(s.get(n / 2)),
                "p99_ms", ms(s.get(Math.min(n - 1, (int) (0.99 * n)))), "max_ms", ms(s.get(n - 1))));
    }

    private static double ms(double x) {
        return Math.round(x * 1000) / 1000.0;
    }
}
