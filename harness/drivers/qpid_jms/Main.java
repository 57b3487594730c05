// qpid-jms driver: runs a workload through the JMS API of org.apache.qpid:qpid-jms-client
// with the library's own failover transport, and prints what the library did
// (docs/driver-contract.md). Standalone: the library, the JMS API and the JDK only.
//
// What the library tells: its JmsConnectionListener (established, interrupted,
// restored, failure), JMS exceptions, the send CompletionListener, and, for each
// connection attempt, the FailoverProvider's own log lines (see AttemptLog).

import jakarta.jms.BytesMessage;
import jakarta.jms.CompletionListener;
import jakarta.jms.Connection;
import jakarta.jms.DeliveryMode;
import jakarta.jms.JMSException;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.qpid.jms.JmsConnection;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.apache.qpid.jms.JmsConnectionListener;
import org.apache.qpid.jms.message.JmsInboundMessageDispatch;
import org.apache.qpid.jms.util.MetaDataSupport;

public final class Main {
    static final int CONTRACT = 1;
    static final String LIBRARY = "org.apache.qpid:qpid-jms-client";

    // Options this driver passes to the library, and their kind. The configuration
    // page's own names go onto the failover URI as they are; the family's shared
    // names (docs/driver-contract.md) map where qpid-jms has the same option.
    static final Map<String, String> OPTIONS = new LinkedHashMap<>();

    static {
        OPTIONS.put("max_reconnect_delay", "ms"); // failover.maxReconnectDelay
        OPTIONS.put("reconnect_limit", "count"); // failover.maxReconnectAttempts
        OPTIONS.put("username", "text"); // createConnection(user, password)
        OPTIONS.put("password", "text");
        OPTIONS.put("failover.initialReconnectDelay", "ms");
        OPTIONS.put("failover.reconnectDelay", "ms");
        OPTIONS.put("failover.maxReconnectDelay", "ms");
        OPTIONS.put("failover.useReconnectBackOff", "bool");
        OPTIONS.put("failover.reconnectBackOffMultiplier", "text"); // a decimal number, e.g. "1.5"
        OPTIONS.put("failover.maxReconnectAttempts", "count");
        OPTIONS.put("failover.startupMaxReconnectAttempts", "count");
        OPTIONS.put("failover.randomize", "bool");
        OPTIONS.put("failover.amqpOpenServerListAction", "text");
        OPTIONS.put("jms.connectTimeout", "ms");
        OPTIONS.put("amqp.idleTimeout", "ms");
    }

    // A shared name and the library's name for the same option: one of them, not both.
    static final Map<String, String> SHARED = Map.of(
            "max_reconnect_delay", "failover.maxReconnectDelay",
            "reconnect_limit", "failover.maxReconnectAttempts");
    static final Set<String> SERVER_LIST_ACTIONS = Set.of("REPLACE", "ADD", "IGNORE");

    static final List<String> OBSERVES = List.of(
            "driver_started", "connect_started", "attempt", "attempt_failed", "retry_scheduled", "connected",
            "connect_failed", "disconnected", "reconnected", "closed", "async_error", "subscribed", "published",
            "publish_failed", "send_failed", "settled", "received", "link_opened", "link_closed", "driver_error",
            "lateness", "stopped");

    // After our close(), how long to wait for it before stopping anyway.
    static final long CLOSE_GRACE_MS = 5000;

    public static void main(String[] args) {
        // Before anything touches SLF4J: the library's log reaches the driver (SLF4J 2.0.9+).
        System.setProperty("slf4j.provider", "AttemptLog");
        if (args.length == 1 && args[0].equals("--describe")) {
            describe();
            System.exit(0);
        }
        if (args.length != 1) {
            System.err.println("usage: Main --describe | Main CONFIG.json");
            System.exit(2);
        }
        Map<String, Object> config;
        try {
            Object parsed = Json.parse(Files.readString(Path.of(args[0])));
            config = checkConfig(parsed);
        } catch (Exception e) {
            Out.emit("driver_error", Out.fields("error", "bad config " + args[0] + ": " + e.getMessage()));
            System.exit(2);
            return;
        }
        Out.emit("driver_started", Out.fields("library", LIBRARY, "library_version", version(),
                "language", "java", "runtime", runtime()));
        int code;
        try {
            code = new Main(config).run();
        } catch (Exception e) {
            Out.emit("driver_error", Out.fields("error", e.toString()));
            code = 1;
        }
        System.exit(code);
    }

    static String version() {
        return MetaDataSupport.PROVIDER_VERSION;
    }

    static String runtime() {
        return "java" + System.getProperty("java.version");
    }

    static void describe() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("contract", CONTRACT);
        d.put("client", "qpid-jms");
        d.put("library", LIBRARY);
        d.put("library_version", version());
        d.put("language", "java");
        d.put("runtime", runtime());
        d.put("options", OPTIONS);
        d.put("observes", OBSERVES);
        System.out.println(Json.write(d));
    }

    // -- config --

    @SuppressWarnings("unchecked")
    static Map<String, Object> checkConfig(Object parsed) {
        if (!(parsed instanceof Map) || !Long.valueOf(CONTRACT).equals(((Map<String, Object>) parsed).get("contract"))) {
            throw new IllegalArgumentException("not a contract 1 config");
        }
        Map<String, Object> config = (Map<String, Object>) parsed;
        Object servers = config.get("servers");
        if (!(servers instanceof List) || ((List<?>) servers).isEmpty()) {
            throw new IllegalArgumentException("servers must be a non-empty list of URLs");
        }
        for (Object s : (List<?>) servers) {
            if (!(s instanceof String) || !((String) s).startsWith("amqp://")) {
                // amqps would need a trust store built from the run's CA: not done yet.
                throw new IllegalArgumentException("servers must be amqp:// URLs, not " + s);
            }
        }
        Map<String, Object> wl = (Map<String, Object>) config.get("workload");
        if (wl == null || !(wl.get("subject") instanceof String) || ((String) wl.get("subject")).isEmpty()
                || !(wl.get("subscribe") instanceof Boolean)) {
            throw new IllegalArgumentException("workload.subject and workload.subscribe are required");
        }
        Object pub = wl.get("publish");
        if (pub != null) {
            Map<String, Object> p = (Map<String, Object>) pub;
            if (!(p.get("rate") instanceof Number) || ((Number) p.get("rate")).doubleValue() <= 0
                    || !(p.get("size") instanceof Long) || (Long) p.get("size") < 1) {
                throw new IllegalArgumentException("workload.publish needs rate > 0 and size >= 1");
            }
            // Only asynchronous sends whose completion is the settlement (the contract's
            // "unsettled"); --describe names no other settlement mode.
            Object mode = p.get("settlement");
            if (mode != null && !"unsettled".equals(mode)) {
                throw new IllegalArgumentException("workload.publish.settlement " + mode + ": this driver sends unsettled only");
            }
        }
        if (!(config.get("options") instanceof Map)) {
            throw new IllegalArgumentException("options must be an object");
        }
        checkOptions((Map<String, Object>) config.get("options"));
        return config;
    }

    static void checkOptions(Map<String, Object> options) {
        for (Map.Entry<String, Object> e : options.entrySet()) {
            String name = e.getKey();
            Object v = e.getValue();
            String kind = OPTIONS.get(name);
            if (kind == null) {
                throw new IllegalArgumentException("qpid-jms driver cannot express option " + name);
            }
            boolean ok = switch (kind) {
                case "bool" -> v instanceof Boolean;
                case "ms" -> v instanceof Number && ((Number) v).doubleValue() >= 0;
                case "count" -> v instanceof Long && (Long) v >= -1;
                default -> v instanceof String && !((String) v).isEmpty();
            };
            if (ok && name.equals("failover.amqpOpenServerListAction")) {
                ok = SERVER_LIST_ACTIONS.contains(v);
            }
            if (ok && name.equals("failover.reconnectBackOffMultiplier")) {
                try {
                    double m = Double.parseDouble((String) v);
                    ok = Double.isFinite(m) && m > 0;
                } catch (NumberFormatException x) {
                    ok = false;
                }
            }
            if (!ok) {
                throw new IllegalArgumentException("option " + name + ": " + v + " is not a valid " + kind + " value");
            }
        }
        for (Map.Entry<String, String> s : SHARED.entrySet()) {
            if (options.containsKey(s.getKey()) && options.containsKey(s.getValue())) {
                throw new IllegalArgumentException(s.getKey() + " and " + s.getValue() + " are one option: give one");
            }
        }
        if (options.containsKey("password") && !options.containsKey("username")) {
            throw new IllegalArgumentException("password without username");
        }
    }

    /** The failover URI the library is given: every server, the options on the URI. */
    static String failoverUri(List<String> servers, Map<String, Object> options) {
        List<String> query = new ArrayList<>();
        for (Map.Entry<String, Object> e : options.entrySet()) {
            String name = SHARED.getOrDefault(e.getKey(), e.getKey());
            if (!name.contains(".")) {
                continue; // username, password: not URI options
            }
            // amqp.* options belong to each host: the page's "nested" form sets them for all.
            String key = name.startsWith("amqp.") ? "failover.nested." + name : name;
            Object v = e.getValue();
            String value = v instanceof Double && (Double) v == Math.rint((Double) v)
                    ? String.valueOf(((Double) v).longValue()) : String.valueOf(v);
            query.add(key + "=" + value);
        }
        return "failover:(" + String.join(",", servers) + ")" + (query.isEmpty() ? "" : "?" + String.join("&", query));
    }

    // -- the run --

    final Map<String, Object> config;
    final Map<String, Object> options;
    final Map<String, Object> workload;
    final LinkedBlockingQueue<Runnable> work = new LinkedBlockingQueue<>();
    final CountDownLatch done = new CountDownLatch(1);
    volatile boolean setUp;
    volatile boolean consumerOpen;
    volatile boolean producerOpen;
    volatile boolean stopping;
    volatile Connection connection;
    Session sendSession;
    MessageProducer producer;
    long seq;

    @SuppressWarnings("unchecked")
    Main(Map<String, Object> config) {
        this.config = config;
        this.options = (Map<String, Object>) config.get("options");
        this.workload = (Map<String, Object>) config.get("workload");
    }

    @SuppressWarnings("unchecked")
    int run() throws Exception {
        Lateness lateness = new Lateness();
        List<String> servers = (List<String>) config.get("servers");
        Thread stdin = new Thread(this::readStdin, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        String uri = failoverUri(servers, options);
        Out.emit("connect_started", Out.fields("servers", servers));
        JmsConnectionFactory factory = new JmsConnectionFactory(uri);
        try {
            connection = options.containsKey("username")
                    ? factory.createConnection((String) options.get("username"), (String) options.get("password"))
                    : factory.createConnection();
            ((JmsConnection) connection).addConnectionListener(new Listener());
            connection.setExceptionListener(e -> Out.emit("async_error", Out.fields("error", text(e))));
            // The connection opens with its first session (jms.awaitClientID): it blocks
            // until connected, or the library gives up (jms.connectTimeout, startup attempts).
            Session receiveSession = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
            String subject = (String) workload.get("subject");
            if (Boolean.TRUE.equals(workload.get("subscribe"))) {
                MessageConsumer consumer = receiveSession.createConsumer(receiveSession.createQueue(subject));
                consumerOpen = true;
                Out.emit("link_opened", Out.fields("role", "receiver", "address", subject));
                consumer.setMessageListener(this::onMessage);
                Out.emit("subscribed", Out.fields("subject", subject));
            }
            if (workload.get("publish") != null) {
                openProducer();
            }
            connection.start();
        } catch (JMSException e) {
            if (!stopping) {
                Out.emit("connect_failed", Out.fields("error", text(e)));
            }
        }
        setUp = true;
        if (workload.get("publish") != null && producer != null) {
            Thread steady = new Thread(this::steady, "steady");
            steady.setDaemon(true);
            steady.start();
        }
        // One thread sends (a JMS session is single-threaded): commands and the steady rate.
        while (true) {
            Runnable r = work.take();
            if (r == STOP) {
                break;
            }
            r.run();
        }
        stopping = true;
        close();
        lateness.report();
        Out.emit("stopped", Out.fields());
        return 0;
    }

    static final Runnable STOP = () -> { };

    void openProducer() throws JMSException {
        sendSession = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
        String subject = (String) workload.get("subject");
        producer = sendSession.createProducer(sendSession.createQueue(subject));
        producer.setDeliveryMode(DeliveryMode.PERSISTENT); // the default, said: settlement awaited
        producerOpen = true;
        Out.emit("link_opened", Out.fields("role", "sender", "address", subject));
    }

    void close() {
        if (connection == null) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                connection.close();
            } catch (JMSException e) {
                Out.emit("async_error", Out.fields("error", text(e)));
            }
        }, "close");
        t.setDaemon(true);
        t.start();
        try {
            t.join(CLOSE_GRACE_MS);
        } catch (InterruptedException ignored) {
            // stopping anyway
        }
    }

    // -- messages --

    void publish(long size) {
        long n = ++seq;
        if (producer == null) {
            Out.emit("publish_failed", Out.fields("seq", n, "bytes", size, "error", "no producer: never connected"));
            return;
        }
        try {
            BytesMessage m = sendSession.createBytesMessage();
            m.writeBytes(payload(n, (int) size));
            // Asynchronous send: the completion is the peer's settlement.
            producer.send(m, new Settled(n));
        } catch (JMSException | RuntimeException e) {
            Out.emit("publish_failed", Out.fields("seq", n, "bytes", size, "error", text(e)));
            return;
        }
        Out.emit("published", Out.fields("seq", n, "bytes", size));
    }

    static byte[] payload(long n, int size) {
        byte[] head = (n + " ").getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[Math.max(size, head.length)];
        System.arraycopy(head, 0, out, 0, head.length);
        for (int i = head.length; i < out.length; i++) {
            out[i] = 'x';
        }
        return out;
    }

    static final class Settled implements CompletionListener {
        final long n;

        Settled(long n) {
            this.n = n;
        }

        @Override
        public void onCompletion(Message message) {
            Out.emit("settled", Out.fields("seq", n, "outcome", "accepted"));
        }

        @Override
        public void onException(Message message, Exception e) {
            long t = System.nanoTime();
            // The library's exception names a released or modified outcome by its type;
            // anything else (a rejection, a lost connection) is a failed send, told.
            String outcome = outcomeOf(e);
            if (outcome != null) {
                Out.emit("settled", t, Out.fields("seq", n, "outcome", outcome));
            } else {
                Out.emit("send_failed", t, Out.fields("seq", n, "error", text(e)));
            }
        }
    }

    static String outcomeOf(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            String name = c.getClass().getSimpleName();
            if (name.equals("ProviderDeliveryReleasedException")) {
                return "released";
            }
            if (name.equals("ProviderDeliveryModifiedException")) {
                return "modified";
            }
        }
        return null;
    }

    void onMessage(Message m) {
        long t = System.nanoTime();
        try {
            String body;
            if (m instanceof TextMessage) {
                body = ((TextMessage) m).getText();
            } else {
                BytesMessage b = (BytesMessage) m;
                byte[] buf = new byte[(int) b.getBodyLength()];
                b.readBytes(buf);
                body = new String(buf, StandardCharsets.US_ASCII);
            }
            Out.emit("received", t, Out.fields("seq", Long.parseLong(body.split(" ", 2)[0])));
        } catch (JMSException | RuntimeException e) {
            Out.emit("driver_error", Out.fields("error", "unreadable message: " + text(e)));
        }
        Object delay = workload.get("handler_delay_ms");
        if (delay instanceof Number && ((Number) delay).longValue() > 0) {
            try {
                Thread.sleep(((Number) delay).longValue()); // a slow consumer on purpose
            } catch (InterruptedException ignored) {
                // stopping
            }
        }
    }

    @SuppressWarnings("unchecked")
    void steady() {
        // Absolute pacing: message k is due at start + k/rate; a late one catches up.
        Map<String, Object> p = (Map<String, Object>) workload.get("publish");
        double rate = ((Number) p.get("rate")).doubleValue();
        long size = (Long) p.get("size");
        long start = System.nanoTime();
        long k = 0;
        CountDownLatch[] last = {new CountDownLatch(0)};
        while (!stopping) {
            long due = start + (long) (k * 1e9 / rate);
            long wait = due - System.nanoTime();
            if (wait > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(wait);
                } catch (InterruptedException e) {
                    return;
                }
                continue;
            }
            try {
                // One due message at a time on the sending thread: a blocked send holds the rest.
                last[0].await();
            } catch (InterruptedException e) {
                return;
            }
            CountDownLatch sent = new CountDownLatch(1);
            last[0] = sent;
            work.add(() -> {
                if (!stopping) {
                    publish(size);
                }
                sent.countDown();
            });
            k++;
        }
    }

    // -- commands --

    void readStdin() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                if (command(line)) {
                    return;
                }
            }
        } catch (Exception e) {
            Out.emit("driver_error", Out.fields("error", "stdin: " + e));
        }
        stop();
    }

    /** Handles one command line; true once it was stop. */
    @SuppressWarnings("unchecked")
    boolean command(String line) {
        Object parsed;
        try {
            parsed = Json.parse(line);
        } catch (RuntimeException e) {
            parsed = null;
        }
        if (!(parsed instanceof Map)) {
            Out.emit("driver_error", Out.fields("error", "unreadable command: " + line));
            return false;
        }
        Map<String, Object> cmd = (Map<String, Object>) parsed;
        Object name = cmd.get("cmd");
        if ("stop".equals(name)) {
            stop();
            return true;
        }
        if ("publish".equals(name)) {
            if (!(cmd.get("count") instanceof Long) || !(cmd.get("size") instanceof Long)) {
                Out.emit("driver_error", Out.fields("error", "bad publish command: " + line));
                return false;
            }
            long count = (Long) cmd.get("count");
            long size = (Long) cmd.get("size");
            work.add(() -> {
                for (long i = 0; i < count && !stopping; i++) {
                    publish(size);
                }
            });
            return false;
        }
        Out.emit("driver_error", Out.fields("error", "unknown command: " + name));
        return false;
    }

    void stop() {
        stopping = true;
        work.add(STOP);
        if (!setUp && connection != null) {
            // The sending thread may still wait in createSession for a first connection
            // the failover transport keeps retrying: closing it ends that wait.
            close();
        }
    }

    // -- what the connection tells --

    final class Listener implements JmsConnectionListener {
        @Override
        public void onConnectionEstablished(URI remoteURI) {
            long t = System.nanoTime();
            Out.emit("connected", t, Out.fields("url", String.valueOf(remoteURI)));
        }

        @Override
        public void onConnectionFailure(Throwable error) {
            long t = System.nanoTime();
            if (!stopping) {
                Out.emit("closed", t, Out.fields("error", text(error)));
            }
        }

        @Override
        public void onConnectionInterrupted(URI remoteURI) {
            long t = System.nanoTime();
            // The listener names the server lost, not why.
            Out.emit("disconnected", t, Out.fields("error", null));
        }

        @Override
        public void onConnectionRestored(URI remoteURI) {
            long t = System.nanoTime();
            Out.emit("reconnected", t, Out.fields("url", String.valueOf(remoteURI)));
            // The library calls this once its recovery has re-created every consumer and
            // producer on the new connection, each waiting for the peer's attach; one it
            // could not re-create is reported closed instead (onConsumerClosed/onProducerClosed).
            String subject = (String) workload.get("subject");
            if (consumerOpen) {
                Out.emit("link_opened", t, Out.fields("role", "receiver", "address", subject));
            }
            if (producerOpen) {
                Out.emit("link_opened", t, Out.fields("role", "sender", "address", subject));
            }
        }

        @Override
        public void onInboundMessage(JmsInboundMessageDispatch envelope) {
        }

        @Override
        public void onSessionClosed(Session session, Throwable cause) {
        }

        @Override
        public void onConsumerClosed(MessageConsumer consumer, Throwable cause) {
            consumerOpen = false;
            Out.emit("link_closed", Out.fields("role", "receiver", "error", cause == null ? null : text(cause)));
        }

        @Override
        public void onProducerClosed(MessageProducer producer, Throwable cause) {
            producerOpen = false;
            Out.emit("link_closed", Out.fields("role", "sender", "error", cause == null ? null : text(cause)));
        }
    }

    static String text(Throwable e) {
        String m = e.getMessage();
        return m != null ? m : e.getClass().getName();
    }
}
