// The SLF4J provider of the driver (named by the slf4j.provider property): the
// library's failover transport logs each connection attempt as it starts
// ("Connection attempt:[N] to: URI in-progress", DEBUG), as it fails (INFO), and
// as it schedules the next one once the failed transport is closed ("Next reconnect
// attempt will be in N milliseconds", TRACE), and tells nothing else about attempts.
// Those lines become the contract's `attempt`, `attempt_failed` and
// `retry_scheduled`, stamped when the library logs them. Warnings and
// errors of the library go to stderr; everything else is dropped.

import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

public final class AttemptLog implements SLF4JServiceProvider {
    static final String FAILOVER = "org.apache.qpid.jms.provider.failover.FailoverProvider";
    static final String STARTED = "Connection attempt:[{}] to: {} in-progress";
    static final String FAILED = "Connection attempt:[{}] to: {} failed";
    static final String SCHEDULED = "Next reconnect attempt will be in {} milliseconds";

    private final IMarkerFactory markers = new BasicMarkerFactory();
    private final MDCAdapter mdc = new NOPMDCAdapter();
    private final ILoggerFactory loggers = Log::new;

    @Override
    public ILoggerFactory getLoggerFactory() {
        return loggers;
    }

    @Override
    public IMarkerFactory getMarkerFactory() {
        return markers;
    }

    @Override
    public MDCAdapter getMDCAdapter() {
        return mdc;
    }

    @Override
    public String getRequestedApiVersion() {
        return "2.0.99";
    }

    @Override
    public void initialize() {
    }

    static final class Log extends LegacyAbstractLogger {
        private static final long serialVersionUID = 1L;
        private final boolean failover;

        Log(String name) {
            this.name = name;
            this.failover = FAILOVER.equals(name);
        }

        @Override
        public boolean isTraceEnabled() {
            return failover;
        }

        @Override
        public boolean isDebugEnabled() {
            return failover;
        }

        @Override
        public boolean isInfoEnabled() {
            return failover;
        }

        @Override
        public boolean isWarnEnabled() {
            return true;
        }

        @Override
        public boolean isErrorEnabled() {
            return true;
        }

        @Override
        protected String getFullyQualifiedCallerName() {
            return null;
        }

        @Override
        protected void handleNormalizedLoggingCall(
                Level level, Marker marker, String pattern, Object[] args, Throwable thrown) {
            long t = System.nanoTime();
            if (failover && level == Level.TRACE && SCHEDULED.equals(pattern) && args != null && args.length == 1) {
                Out.emit("retry_scheduled", t, Out.fields("delay_ms", args[0]));
                return;
            }
            if (failover && args != null && args.length == 2) {
                if (level == Level.DEBUG && STARTED.equals(pattern)) {
                    Out.emit("attempt", t, Out.fields("url", String.valueOf(args[1])));
                    return;
                }
                if (level == Level.INFO && FAILED.equals(pattern)) {
                    String said = MessageFormatter.basicArrayFormat(pattern, args);
                    Out.emit("attempt_failed", t, Out.fields("url", String.valueOf(args[1]), "error", said));
                    return;
                }
            }
            if (level == Level.WARN || level == Level.ERROR) {
                System.err.println(level + " " + name + ": " + MessageFormatter.basicArrayFormat(pattern, args)
                        + (thrown != null ? " (" + thrown + ")" : ""));
            }
        }
    }
}
