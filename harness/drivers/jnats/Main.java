// jnats driver: runs a workload with jnats (io.nats:jnats) and prints what the library did
// as JSON Lines. Follows docs/driver-contract.md (including "NATS options"). Standalone on
// purpose: it uses jnats (its JSON parser included) and the JDK, never the harness.

import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Consumer;
import io.nats.client.Dispatcher;
import io.nats.client.ErrorListener;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.support.JsonParser;
import io.nats.client.support.JsonValue;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public final class Main {
    static final String LIBRARY = "io.nats:jnats";
    static final String VERSION = Nats.CLIENT_VERSION;
    static final String RUNTIME = "java" + System.getProperty("java.version");
    // Within the harness's stop timeout (15 s) with the close's own waits.
    static final Duration FLUSH_ON_STOP = Duration.ofSeconds(2);

    // The documented (nats.go) option names and the kind of value each takes. Every one maps
    // to an Options.Builder call (see build()); ReconnectBufSize is jnats's
    // reconnectBufferSize, where 0 means no buffer.
    static final Map<String, String> OPTIONS = new LinkedHashMap<>();

    static {
        for (String[] o : new String[][] {
            {"AllowReconnect", "bool"}, {"MaxReconnect", "count"}, {"ReconnectWait", "ms"},
            {"ReconnectJitter", "ms"}, {"ReconnectJitterTLS", "ms"}, {"ReconnectBufSize", "bytes"},
            {"Timeout", "ms"}, {"PingInterval", "ms"}, {"MaxPingsOut", "count"},
            {"RetryOnFailedConnect", "bool"}, {"NoRandomize", "bool"}, {"IgnoreDiscoveredServers", "bool"},
            {"CustomReconnectDelay", "ms"}, {"RootCAs", "text"}, {"User", "text"}, {"Password", "text"},
        }) {
            OPTIONS.put(o[0], o[1]);
        }
    }

    static final List<String> OBSERVES = List.of(
        "driver_started", "connect_started", "attempt", "attempt_failed", "connected", "connect_failed",
        "disconnected", "reconnected", "closed", "servers_discovered", "reconnect_delay_cb", "async_error",
        "subscribed", "published", "publish_failed", "received", "driver_error", "lateness", "stopped");

    // ---- output ----

    // stdout carries nothing but event lines: anything else printing to System.out goes to stderr.
    static final PrintStream EVENTS = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);

    /** System.nanoTime() is CLOCK_MONOTONIC on Linux: the clock the harness and its wire log share. */
    static synchronized void emit(long t, String kind, Object... fields) {
        StringBuilder b = new StringBuilder("{\"t_ns\":").append(t).append(",\"kind\":").append(json(kind));
        for (int i = 0; i < fields.length; i += 2) {
            b.append(',').append(json(fields[i])).append(':').append(json(fields[i + 1]));
        }
        EVENTS.print(b.append("}\n"));
        EVENTS.flush();
    }

    static void emit(String kind, Object... fields) {
        emit(System.nanoTime(), kind, fields);
    }

    static String json(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        if (v instanceof List<?> list) {
            List<String> parts = new ArrayList<>();
            list.forEach(x -> parts.add(json(x)));
            return "[" + String.join(",", parts) + "]";
        }
        if (v instanceof Map<?, ?> map) {
            List<String> parts = new ArrayList<>();
            map.forEach((k, x) -> parts.add(json(k) + ":" + json(x)));
            return "{" + String.join(",", parts) + "}";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : v.toString().toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String text(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isEmpty() ? e.getClass().getName() : m;
    }

    // ---- config ----

    static final class BadConfig extends Exception {
        private static final long serialVersionUID = 1L;

        BadConfig(String message) {
            super(message);
        }
    }

    static final Pattern SERVER = Pattern.compile("(nats|tls)://[^/]+:\\d+");

    static JsonValue field(JsonValue obj, String name, JsonValue.Type... types) throws BadConfig {
        JsonValue v = obj.map == null ? null : obj.map.get(name);
        if (v == null) {
            throw new BadConfig("missing " + name);
        }
        if (types.length == 0) {
            return v;
        }
        for (JsonValue.Type t : types) {
            if (v.type == t) {
                return v;
            }
        }
        throw new BadConfig(name + ": want " + List.of(types));
    }

    static boolean isWhole(JsonValue v) {
        return v.type == JsonValue.Type.INTEGER || v.type == JsonValue.Type.LONG;
    }

    /** An option's value checked against its kind; a count or size as a long, a duration in ms. */
    static Object value(String name, JsonValue v) throws BadConfig {
        String kind = OPTIONS.get(name);
        if (kind == null) {
            throw new BadConfig("jnats has no option " + name);
        }
        Object out = switch (kind) {
            case "bool" -> v.type == JsonValue.Type.BOOL ? v.bool : null;
            case "text" -> v.type == JsonValue.Type.STRING && !v.string.isEmpty() ? v.string : null;
            case "ms" -> v.number != null && v.number.doubleValue() >= 0 ? v.number.doubleValue() : null;
            default -> isWhole(v) ? v.number.longValue() : null; // count, bytes
        };
        if (out == null) {
            throw new BadConfig("option " + name + ": " + v.toJson() + " is not a valid " + kind + " value");
        }
        return out;
    }

    static Duration ms(Object v) {
        return Duration.ofNanos(Math.round((Double) v * 1e6));
    }

    static int toInt(String name, Object v) throws BadConfig {
        long n = (Long) v;
        if (n < -1 || n > Integer.MAX_VALUE) { // jnats takes an int; -1: MaxReconnect's "forever"
            throw new BadConfig("option " + name + ": " + n + " is out of jnats's range");
        }
        return (int) n;
    }

    /** The CA of a PEM file as an SSLContext, jnats's way of being told whom to trust. */
    static SSLContext trusting(String pem) throws BadConfig {
        try (InputStream in = Files.newInputStream(Path.of(pem))) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            SSLContext ctx = SSLContext.getInstance(Options.DEFAULT_SSL_PROTOCOL);
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new BadConfig("option RootCAs: " + text(e));
        }
    }

    // ---- the driver ----

    final List<String> servers = new ArrayList<>();
    final Map<String, Object> options = new LinkedHashMap<>();
    String subject;
    boolean subscribe;
    double rate; // 0: no steady publishing
    int size;
    long pendingLimit; // 0: the library's default
    long handlerDelayMs;

    final AtomicLong seq = new AtomicLong();
    final AtomicBoolean stopping = new AtomicBoolean();
    final AtomicBoolean firstConnect = new AtomicBoolean(true);
    final CountDownLatch closed = new CountDownLatch(1);
    final CountDownLatch connectEnded = new CountDownLatch(1);
    // Connected now, as the listener last told: a failure reported while not connected ends an attempt.
    volatile boolean connected;
    volatile Connection nc;
    Thread publisher;

    void read(String path) throws BadConfig {
        JsonValue c;
        try {
            c = JsonParser.parse(Files.readString(Path.of(path)));
        } catch (IOException e) {
            throw new BadConfig(text(e));
        }
        if (c.type != JsonValue.Type.MAP) {
            throw new BadConfig("want a JSON object");
        }
        if (!isWhole(field(c, "contract")) || field(c, "contract").number.longValue() != 1) {
            throw new BadConfig("contract is not 1");
        }
        for (JsonValue s : field(c, "servers", JsonValue.Type.ARRAY).array) {
            if (s.type != JsonValue.Type.STRING || !SERVER.matcher(s.string).matches()) {
                throw new BadConfig("server " + s.toJson() + ": want nats://host:port or tls://host:port");
            }
            servers.add(s.string);
        }
        if (servers.isEmpty()) {
            throw new BadConfig("servers: want a non-empty list");
        }
        JsonValue opts = field(c, "options", JsonValue.Type.MAP);
        for (Map.Entry<String, JsonValue> e : opts.map.entrySet()) {
            options.put(e.getKey(), value(e.getKey(), e.getValue()));
        }
        JsonValue w = field(c, "workload", JsonValue.Type.MAP);
        subject = field(w, "subject", JsonValue.Type.STRING).string;
        subscribe = field(w, "subscribe", JsonValue.Type.BOOL).bool;
        JsonValue p = w.map.get("publish");
        if (p != null && p.type != JsonValue.Type.NULL) {
            JsonValue r = field(p, "rate");
            JsonValue s = field(p, "size");
            if (r.number == null || r.number.doubleValue() <= 0 || !isWhole(s) || s.number.longValue() < 1) {
                throw new BadConfig("workload.publish: want null or {rate > 0, size >= 1}");
            }
            rate = r.number.doubleValue();
            size = s.number.intValue();
        }
        JsonValue limit = w.map.get("sub_pending_msgs_limit");
        if (limit != null && limit.type != JsonValue.Type.NULL) {
            if (!isWhole(limit) || limit.number.longValue() < 1) {
                throw new BadConfig("workload.sub_pending_msgs_limit must be >= 1");
            }
            pendingLimit = limit.number.longValue();
        }
        JsonValue delay = w.map.get("handler_delay_ms");
        if (delay != null && delay.type != JsonValue.Type.NULL) {
            if (delay.number == null || delay.number.doubleValue() < 0) {
                throw new BadConfig("workload.handler_delay_ms must be >= 0");
            }
            handlerDelayMs = Math.round(delay.number.doubleValue());
        }
    }

    /** The library's defaults, and only what the config names set through Options.Builder. */
    Options build() throws BadConfig {
        Options.Builder b = new Options.Builder().servers(servers.toArray(new String[0]));
        for (Map.Entry<String, Object> e : options.entrySet()) {
            Object v = e.getValue();
            switch (e.getKey()) {
                case "AllowReconnect" -> {
                    if (!(Boolean) v) {
                        b.noReconnect();
                    }
                }
                case "MaxReconnect" -> b.maxReconnects(toInt("MaxReconnect", v));
                case "ReconnectWait" -> b.reconnectWait(ms(v));
                case "ReconnectJitter" -> b.reconnectJitter(ms(v));
                case "ReconnectJitterTLS" -> b.reconnectJitterTls(ms(v));
                case "ReconnectBufSize" -> b.reconnectBufferSize((Long) v);
                case "Timeout" -> b.connectionTimeout(ms(v));
                case "PingInterval" -> b.pingInterval(ms(v));
                case "MaxPingsOut" -> b.maxPingsOut(toInt("MaxPingsOut", v));
                case "RetryOnFailedConnect" -> { } // the connect call's choice, see run()
                case "NoRandomize" -> {
                    if ((Boolean) v) {
                        b.noRandomize();
                    }
                }
                case "IgnoreDiscoveredServers" -> {
                    if ((Boolean) v) {
                        b.ignoreDiscoveredServers();
                    }
                }
                case "CustomReconnectDelay" -> {
                    double delayMs = (Double) v;
                    Duration delay = ms(v);
                    b.reconnectDelayHandler(tries -> {
                        emit("reconnect_delay_cb", "attempts", tries, "delay_ms", delayMs);
                        return delay;
                    });
                }
                case "RootCAs" -> b.sslContext(trusting((String) v));
                case "User", "Password" -> { } // together, below
                default -> throw new BadConfig("jnats has no option " + e.getKey());
            }
        }
        if (options.containsKey("User")) {
            b.userInfo((String) options.get("User"), (String) options.getOrDefault("Password", ""));
        } else if (options.containsKey("Password")) {
            throw new BadConfig("option Password: jnats takes a password only with a user (User)");
        }
        // jnats traces each connection attempt, right before it dials, to a TimeTraceLogger:
        // the one place it tells the application where and when an attempt starts.
        b.timeTraceLogger((format, args) -> {
            if (ATTEMPT_TRACES.contains(format) && args.length == 1) {
                emit("attempt", "url", String.valueOf(args[0]));
            }
        });
        b.connectionListener(this::onEvent);
        b.errorListener(new Errors());
        try {
            return b.build();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new BadConfig(text(e));
        }
    }

    // The traces jnats writes just before tryToConnect: in its first connect, and in its reconnect loop.
    static final List<String> ATTEMPT_TRACES = List.of("trying to connect to %s", "reconnecting to server %s");

    void onEvent(Connection conn, ConnectionListener.Events type) {
        long t = System.nanoTime();
        switch (type) {
            // Reported as jnats names them: its first connection says RECONNECTED when it came
            // through the reconnect loop (connectReconnectOnConnect after a failed first pass).
            // The workload starts on the first connection of either kind.
            case CONNECTED, RECONNECTED -> {
                connected = true;
                emit(t, type == ConnectionListener.Events.CONNECTED ? "connected" : "reconnected",
                    "url", conn.getConnectedUrl());
                if (firstConnect.getAndSet(false)) {
                    nc = conn;
                    // Off the library's callback thread: the workload must not hold up its events.
                    new Thread(this::startWorkload, "workload").start();
                }
            }
            case DISCONNECTED -> {
                connected = false;
                emit(t, "disconnected", "error", null);
            }
            case CLOSED -> {
                connected = false;
                String last = conn.getLastError();
                emit(t, "closed", "error", last == null || last.isEmpty() ? null : last);
                closed.countDown();
            }
            case DISCOVERED_SERVERS -> {
                List<String> urls = new ArrayList<>();
                String scheme = servers.get(0).substring(0, servers.get(0).indexOf("://"));
                for (String s : conn.getServerInfo().getConnectURLs()) {
                    urls.add(s.contains("://") ? s : scheme + "://" + s);
                }
                emit(t, "servers_discovered", "servers", urls);
            }
            default -> { } // RESUBSCRIBED, LAME_DUCK: nothing the contract reports
        }
    }

    /** jnats's ErrorListener: while connected an asynchronous error; while not, the end of an attempt. */
    final class Errors implements ErrorListener {
        void report(String error) {
            if (connected) {
                emit("async_error", "error", error);
            } else {
                emit("attempt_failed", "url", null, "error", error);
            }
        }

        @Override
        public void errorOccurred(Connection conn, String error) {
            report(error);
        }

        @Override
        public void exceptionOccurred(Connection conn, Exception exp) {
            report(text(exp));
        }

        @Override
        public void slowConsumerDetected(Connection conn, Consumer consumer) {
            emit("async_error", "error", "slow consumer: " + consumer.getPendingMessageCount() + " pending");
        }

        @Override
        public void socketWriteTimeout(Connection conn) {
            emit("async_error", "error", "socket write timeout");
        }
    }

    static byte[] payload(long n, int size) {
        StringBuilder b = new StringBuilder().append(n).append(' ');
        while (b.length() < size) {
            b.append('x');
        }
        return b.toString().getBytes(StandardCharsets.US_ASCII);
    }

    void publishOne(int bytes) {
        long n = seq.incrementAndGet();
        try {
            nc.publish(subject, payload(n, bytes));
        } catch (RuntimeException e) {
            emit("publish_failed", "seq", n, "bytes", bytes, "error", text(e));
            return;
        }
        emit("published", "seq", n, "bytes", bytes);
    }

    void onMessage(io.nats.client.Message m) {
        long t = System.nanoTime();
        String body = new String(m.getData(), StandardCharsets.US_ASCII);
        try {
            emit(t, "received", "seq", Long.parseLong(body.split(" ", 2)[0]));
        } catch (NumberFormatException e) {
            emit(t, "driver_error", "error", "received a message without a sequence number");
        }
        if (handlerDelayMs > 0) {
            try {
                Thread.sleep(handlerDelayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    synchronized void startWorkload() {
        if (subscribe) {
            Dispatcher d = nc.createDispatcher(this::onMessage);
            d.subscribe(subject);
            if (pendingLimit > 0) {
                d.setPendingLimits(pendingLimit, 0); // bytes 0: no byte limit
            }
            emit("subscribed", "subject", subject);
        }
        if (rate > 0 && !stopping.get()) {
            // Message n at start + n/rate: one slow moment does not lower the average rate.
            publisher = new Thread(() -> {
                long start = System.nanoTime();
                for (long n = 0; !stopping.get(); n++) {
                    long wait = start + (long) (n * 1e9 / rate) - System.nanoTime();
                    if (wait > 0) {
                        try {
                            TimeUnit.NANOSECONDS.sleep(wait);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    if (!stopping.get()) {
                        publishOne(size);
                    }
                }
            }, "publisher");
            publisher.start();
        }
    }

    void commands() throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(new FileInputStream(FileDescriptor.in), StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isBlank()) {
                continue;
            }
            JsonValue c;
            try {
                c = JsonParser.parse(line);
            } catch (IOException | RuntimeException e) {
                emit("driver_error", "error", "unreadable command: " + line);
                continue;
            }
            JsonValue cmd = c.map == null ? null : c.map.get("cmd");
            String name = cmd == null ? null : cmd.string;
            if ("stop".equals(name)) {
                return;
            }
            JsonValue count = "publish".equals(name) ? c.map.get("count") : null;
            JsonValue bytes = "publish".equals(name) ? c.map.get("size") : null;
            if (count == null || bytes == null || !isWhole(count) || !isWhole(bytes)
                    || count.number.longValue() < 0 || bytes.number.longValue() < 1) {
                emit("driver_error", "error", "unknown command: " + line);
                continue;
            }
            try {
                connectEnded.await(); // a publish waits for the first connect to end, whatever its outcome
            } catch (InterruptedException e) {
                return;
            }
            if (nc == null) {
                emit("driver_error", "error", "publish command without a connection (connect failed)");
                continue;
            }
            for (long i = 0; i < count.number.longValue(); i++) {
                publishOne(bytes.number.intValue());
            }
        }
    }

    void run() throws IOException, InterruptedException {
        emit("driver_started", "library", LIBRARY, "library_version", VERSION, "language", "java", "runtime", RUNTIME);
        Lateness lateness = new Lateness();
        Options opts;
        try {
            opts = build();
        } catch (BadConfig e) {
            emit("driver_error", "error", e.getMessage());
            System.exit(2);
            return;
        }
        // The connect call blocks until the first connect ends; commands are read meanwhile.
        Thread connecting = new Thread(() -> {
            emit("connect_started", "servers", servers);
            try {
                Connection c = Boolean.TRUE.equals(options.get("RetryOnFailedConnect"))
                    ? Nats.connectReconnectOnConnect(opts)
                    : Nats.connect(opts);
                nc = c;
            } catch (IOException | RuntimeException e) {
                emit("connect_failed", "error", text(e));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                connectEnded.countDown();
            }
        }, "connect");
        connecting.start();
        commands(); // until stop or end of stdin
        stopping.set(true);
        synchronized (this) {
            if (publisher != null) {
                publisher.interrupt();
                publisher.join(5000);
            }
        }
        Connection c = nc;
        if (c != null) {
            // jnats's close stops its writer and drops what is still queued (seen as the
            // tail of a run never arriving); the other NATS libraries send it on close.
            // A flush, a PING after everything queued, sends it first.
            if (c.getStatus() == Connection.Status.CONNECTED) {
                try {
                    c.flush(FLUSH_ON_STOP);
                } catch (TimeoutException e) {
                    System.err.println("jnats driver: flush before close timed out after " + FLUSH_ON_STOP);
                }
            }
            c.close();
            if (!closed.await(5, TimeUnit.SECONDS)) {
                System.err.println("jnats driver: no CLOSED event within 5 s");
            }
        }
        lateness.report();
        emit("stopped");
        System.exit(0); // the library's threads (a first connect still retrying) must not keep us
    }

    public static void main(String[] args) throws Exception {
        System.setOut(System.err);
        if (args.length == 1 && args[0].equals("--describe")) {
            EVENTS.println(json(Map.of(
                "contract", 1, "client", "jnats", "library", LIBRARY, "library_version", VERSION,
                "language", "java", "runtime", RUNTIME, "options", OPTIONS, "observes", OBSERVES)));
            EVENTS.flush();
            return;
        }
        if (args.length != 1) {
            System.err.println("usage: java -cp ... Main --describe | java -cp ... Main CONFIG.json");
            System.exit(2);
        }
        Main d = new Main();
        try {
            d.read(args[0]);
        } catch (BadConfig e) {
            emit("driver_error", "error", "bad config " + args[0] + ": " + e.getMessage());
            System.exit(2);
        }
        d.run();
    }
}
