//! driver-async-nats runs a workload with async-nats (the Rust NATS client) and prints
//! what the library did as JSON Lines. It follows docs/driver-contract.md (including
//! "NATS options") and uses nothing of the harness.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ClientError, ConnectOptions, Event};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

const CONTRACT: i64 = 1;
const CLIENT: &str = "async-nats";
const LIBRARY: &str = "async-nats";
// Both set by build.rs: the version Cargo.lock resolved, and the compiler's.
const LIBRARY_VERSION: &str = env!("ASYNC_NATS_VERSION");
const RUNTIME: &str = env!("RUSTC_VERSION");

// Documented (nats.go) option names and the kind the contract gives them in. Left
// out, so refused and not described (the scenario is then not-measured):
// AllowReconnect (async-nats always reconnects, and max_reconnects(0) means no
// limit), ReconnectWait, ReconnectJitter and ReconnectJitterTLS (its only delay
// setting is the reconnect_delay_callback, see CustomReconnectDelay),
// ReconnectBufSize (its client_capacity counts commands, not bytes) and
// MaxPingsOut (a constant of the library).
const OPTIONS: &[(&str, &str)] = &[
    ("MaxReconnect", "count"),
    ("Timeout", "ms"),
    ("PingInterval", "ms"),
    ("RetryOnFailedConnect", "bool"),
    ("NoRandomize", "bool"),
    ("IgnoreDiscoveredServers", "bool"),
    ("CustomReconnectDelay", "ms"),
    ("RootCAs", "text"),
    ("User", "text"),
    ("Password", "text"),
];

// The library calls the driver for these only: it has no callback for a dial or
// for servers discovered from the cluster.
const OBSERVES: &[&str] = &[
    "driver_started",
    "connect_started",
    "attempt_failed",
    "connected",
    "connect_failed",
    "disconnected",
    "reconnected",
    "closed",
    "reconnect_delay_cb",
    "async_error",
    "subscribed",
    "published",
    "publish_failed",
    "received",
    "driver_error",
    "lateness",
    "stopped",
];

// ---- output ----

static OUT: Mutex<()> = Mutex::new(());

/// CLOCK_MONOTONIC in ns: the clock the harness and its wire log share.
fn now() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// One event line, written whole under one lock (callbacks run on library tasks).
fn emit(t: i64, kind: &str, fields: Value) {
    let mut ev = Map::new();
    ev.insert("t_ns".into(), json!(t));
    ev.insert("kind".into(), json!(kind));
    if let Value::Object(f) = fields {
        ev.extend(f);
    }
    let mut line = Value::Object(ev).to_string();
    line.push('\n');
    let _guard = OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|_| out.flush());
}

// ---- lateness ----

/// How late this process's event loop (tokio's, on its one thread) wakes from a timer:
/// what a busy machine adds to every wait of the library, which the harness's own probe,
/// in another process, does not see. Measured all along on the clock of t_ns, reported
/// a window of about a second at a time, the last one before `stopped` (`lateness`,
/// docs/driver-contract.md).
/// tokio's timer wheel ticks in whole ms and rounds a sleep up, so about 1 ms is its
/// floor here, as it is for the library's own delays.
const LATENESS_INTERVAL: Duration = Duration::from_millis(50);
const LATENESS_WINDOW_NS: i64 = 1_000_000_000;

/// Wakes every interval until told to end, printing a window's figures at the first
/// wake-up a window after it opened, then hands back how late each wake-up of the last
/// window was (ms).
async fn watch_lateness(mut end: oneshot::Receiver<()>) -> Vec<f64> {
    let mut late_ms = Vec::new();
    let mut opened = now();
    loop {
        let due = now() + LATENESS_INTERVAL.as_nanos() as i64;
        tokio::select! {
            _ = &mut end => return late_ms,
            _ = tokio::time::sleep(LATENESS_INTERVAL) => {
                let woke = now();
                late_ms.push(((woke - due) as f64 / 1e6).max(0.0));
                if woke - opened >= LATENESS_WINDOW_NS {
                    report_lateness(std::mem::take(&mut late_ms));
                    opened = woke;
                }
            }
        }
    }
}

fn report_lateness(mut late_ms: Vec<f64>) {
    if late_ms.is_empty() {
        return;
    }
    late_ms.sort_by(f64::total_cmp);
    let n = late_ms.len();
    let ms = |x: f64| (x * 1000.0).round() / 1000.0;
    emit(
        now(),
        "lateness",
        json!({
            "interval_ms": LATENESS_INTERVAL.as_secs_f64() * 1000.0,
            "n": n,
            "p50_ms": ms(late_ms[n / 2]),
            "p99_ms": ms(late_ms[((0.99 * n as f64) as usize).min(n - 1)]),
            "max_ms": ms(late_ms[n - 1]),
        }),
    );
}

// ---- config ----

struct Workload {
    subject: String,
    subscribe: bool,
    publish: Option<(f64, usize)>, // rate per second, size in bytes
    sub_pending_msgs_limit: Option<usize>,
    handler_delay: Duration,
}

struct Config {
    servers: Vec<String>,
    options: BTreeMap<String, Value>,
    workload: Workload,
}

fn ms_of(v: &Value) -> Option<Duration> {
    v.as_f64()
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
}

fn read_config(path: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let c: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if c["contract"].as_i64() != Some(CONTRACT) {
        return Err(format!("contract {}, want {CONTRACT}", c["contract"]));
    }
    let servers: Vec<String> = c["servers"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if servers.is_empty() || servers.len() != c["servers"].as_array().map_or(0, |a| a.len()) {
        return Err("servers: want a non-empty list of URLs".into());
    }
    let options: BTreeMap<String, Value> = match c["options"].as_object() {
        Some(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => return Err("no options object".into()),
    };
    let w = &c["workload"];
    let subject = w["subject"].as_str().unwrap_or("").to_string();
    if subject.is_empty() {
        return Err("no workload.subject".into());
    }
    let subscribe = w["subscribe"].as_bool().ok_or("workload.subscribe: want a bool")?;
    let publish = match &w["publish"] {
        Value::Null => None,
        p => match (p["rate"].as_f64(), p["size"].as_u64()) {
            (Some(rate), Some(size)) if rate > 0.0 && size >= 1 => Some((rate, size as usize)),
            _ => return Err("workload.publish needs rate > 0 and size >= 1".into()),
        },
    };
    let sub_pending_msgs_limit = match &w["sub_pending_msgs_limit"] {
        Value::Null => None,
        v => match v.as_u64() {
            Some(n) if n >= 1 => Some(n as usize),
            _ => return Err("workload.sub_pending_msgs_limit must be >= 1".into()),
        },
    };
    let handler_delay = match &w["handler_delay_ms"] {
        Value::Null => Duration::ZERO,
        v => ms_of(v).ok_or("workload.handler_delay_ms must be >= 0")?,
    };
    Ok(Config {
        servers,
        options,
        workload: Workload {
            subject,
            subscribe,
            publish,
            sub_pending_msgs_limit,
            handler_delay,
        },
    })
}

fn bad(name: &str, v: &Value, kind: &str) -> String {
    format!("option {name}: {v} is not a valid {kind} value")
}

/// Starts from the library's defaults and calls only the builders the config names.
fn connect_options(c: &Config) -> Result<ConnectOptions, String> {
    let mut o = ConnectOptions::new();
    let mut user = None;
    let mut password = None;
    for (name, v) in &c.options {
        let kind = OPTIONS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| format!("{CLIENT} has no option {name}"))?;
        let ms = || ms_of(v).ok_or_else(|| bad(name, v, kind));
        let flag = || v.as_bool().ok_or_else(|| bad(name, v, kind));
        let text = || {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(String::from)
                .ok_or_else(|| bad(name, v, kind))
        };
        o = match name.as_str() {
            "MaxReconnect" => match v.as_i64() {
                // async-nats reads 0 as "no limit", the NATS docs as "no reconnect":
                // it cannot say the documented meaning.
                Some(0) => {
                    return Err("option MaxReconnect: 0 (no reconnect) cannot be set: async-nats reads max_reconnects(0) as no limit".into())
                }
                Some(n) if n < 0 => o.max_reconnects(None::<usize>),
                Some(n) => o.max_reconnects(n as usize),
                None => return Err(bad(name, v, kind)),
            },
            "Timeout" => o.connection_timeout(ms()?),
            "PingInterval" => o.ping_interval(ms()?),
            "RetryOnFailedConnect" if flag()? => o.retry_on_initial_connect(),
            "NoRandomize" if flag()? => o.retain_servers_order(),
            "IgnoreDiscoveredServers" if flag()? => o.ignore_discovered_servers(),
            "RetryOnFailedConnect" | "NoRandomize" | "IgnoreDiscoveredServers" => o, // false: the default
            "CustomReconnectDelay" => {
                let delay = ms()?;
                let delay_ms = v.clone();
                o.reconnect_delay_callback(move |attempts| {
                    emit(
                        now(),
                        "reconnect_delay_cb",
                        json!({"attempts": attempts, "delay_ms": delay_ms}),
                    );
                    delay
                })
            }
            "RootCAs" => {
                let path = text()?;
                std::fs::metadata(&path).map_err(|e| format!("option RootCAs: {path}: {e}"))?;
                o.add_root_certificates(PathBuf::from(path))
            }
            "User" => {
                user = Some(text()?);
                o
            }
            "Password" => {
                password = Some(text()?);
                o
            }
            _ => unreachable!("every name in OPTIONS is matched"),
        };
    }
    match (user, password) {
        (Some(u), Some(p)) => o = o.user_and_password(u, p),
        (None, None) => {}
        // Its only way to pass a user is with a password (user_and_password).
        _ => return Err("options User and Password: async-nats takes both or neither".into()),
    }
    if let Some(n) = c.workload.sub_pending_msgs_limit {
        // async-nats's pending limit is per client, for every subscription.
        o = o.subscription_capacity(n);
    }
    Ok(o)
}

// ---- workload ----

struct Driver {
    cfg: Config,
    seq: AtomicI64,
    stop: watch::Sender<bool>,
}

fn payload(seq: i64, size: usize) -> Bytes {
    let mut p = format!("{seq} ").into_bytes();
    if p.len() < size {
        p.resize(size, b'x');
    }
    Bytes::from(p)
}

impl Driver {
    /// One publish call; false if stop came while the library held it (a full buffer).
    async fn publish_one(&self, client: &async_nats::Client, size: usize) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut stop = self.stop.subscribe();
        let call = client.publish(self.cfg.workload.subject.clone(), payload(seq, size));
        tokio::select! {
            r = call => {
                let t = now();
                match r {
                    Ok(()) => emit(t, "published", json!({"seq": seq, "bytes": size})),
                    Err(e) => emit(t, "publish_failed", json!({"seq": seq, "bytes": size, "error": e.to_string()})),
                }
                true
            }
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Paced by absolute schedule (message n at start + n/rate), so one slow moment
    /// does not lower the average rate.
    async fn publish_steadily(self: Arc<Self>, client: async_nats::Client, rate: f64, size: usize) {
        let start = Instant::now();
        let mut stop = self.stop.subscribe();
        for n in 0u64.. {
            let at = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !self.publish_one(&client, size).await {
                return;
            }
        }
    }

    async fn consume(self: Arc<Self>, mut sub: async_nats::Subscriber) {
        while let Some(m) = sub.next().await {
            let t = now();
            let head = m.payload.split(|b| *b == b' ').next().unwrap_or(&[]);
            match std::str::from_utf8(head).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(seq) => emit(t, "received", json!({"seq": seq})),
                None => emit(
                    t,
                    "driver_error",
                    json!({"error": format!("unparseable payload {:?}", String::from_utf8_lossy(head))}),
                ),
            }
            let delay = self.cfg.workload.handler_delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// The workload, once, on the first connection.
    async fn start(self: Arc<Self>, client: async_nats::Client) {
        let w = &self.cfg.workload;
        if w.subscribe {
            match client.subscribe(w.subject.clone()).await {
                Ok(sub) => {
                    emit(now(), "subscribed", json!({"subject": w.subject}));
                    tokio::spawn(self.clone().consume(sub));
                }
                Err(e) => emit(now(), "driver_error", json!({"error": format!("subscribe: {e}")})),
            }
        }
        if let Some((rate, size)) = w.publish {
            if !*self.stop.borrow() {
                tokio::spawn(self.clone().publish_steadily(client, rate, size));
            }
        }
    }
}

/// What the library's event callback reports, as the contract's events.
struct Events {
    connects: AtomicUsize,
    retrying_first_connect: bool,
    // With one server given the library can only have connected to it at first;
    // with several it does not say which, and the wire log tells.
    url: Value,
    // Later it may also reconnect to servers the cluster told it about, unless told
    // to ignore them.
    reconnect_url: Value,
    first_connect: Notify,
    closed: AtomicBool,
    closed_now: Notify,
}

impl Events {
    fn on(&self, event: Event) {
        let t = now();
        match event {
            Event::Connected => {
                // The first Connected is the initial connect, which connect()
                // returning reports, unless connect returned before connecting.
                if self.connects.fetch_add(1, Ordering::SeqCst) == 0 {
                    if self.retrying_first_connect {
                        emit(t, "connected", json!({"url": self.url}));
                        self.first_connect.notify_one();
                    }
                } else {
                    emit(t, "reconnected", json!({"url": self.reconnect_url}));
                }
            }
            Event::Disconnected => emit(t, "disconnected", json!({"error": null})),
            Event::Closed => self.close(t, Value::Null),
            // The library's word that it stopped trying: it will not connect again.
            Event::ClientError(e @ ClientError::MaxReconnects) => self.close(t, json!(e.to_string())),
            // Sent by the reconnect loop when a pass over the servers failed; it
            // names no server.
            Event::ClientError(e) => emit(
                t,
                "attempt_failed",
                json!({"url": null, "error": e.to_string(), "per_pass": true}),
            ),
            Event::ServerError(e) => emit(t, "async_error", json!({"error": e.to_string()})),
            Event::SlowConsumer(sid) => emit(
                t,
                "async_error",
                json!({"error": format!("slow consumer: subscription {sid}")}),
            ),
            // Lame duck mode and draining are notices, not errors or connection changes.
            Event::LameDuckMode | Event::Draining => {}
        }
    }

    fn close(&self, t: i64, error: Value) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            emit(t, "closed", json!({"error": error}));
        }
        self.closed_now.notify_one();
    }
}

fn describe() {
    let options: Map<String, Value> = OPTIONS.iter().map(|(n, k)| (n.to_string(), json!(k))).collect();
    println!(
        "{}",
        json!({
            "contract": CONTRACT, "client": CLIENT, "library": LIBRARY,
            "library_version": LIBRARY_VERSION, "language": "rust", "runtime": RUNTIME,
            "options": options, "observes": OBSERVES,
        })
    );
}

fn fail(error: String) -> ! {
    emit(now(), "driver_error", json!({"error": error}));
    std::process::exit(2);
}

async fn commands(d: &Arc<Driver>, client: Option<&async_nats::Client>) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let c: Value = match serde_json::from_str(line) {
            Ok(c) => c,
            Err(e) => {
                emit(
                    now(),
                    "driver_error",
                    json!({"error": format!("unreadable command {line:?}: {e}")}),
                );
                continue;
            }
        };
        match (c["cmd"].as_str(), c["count"].as_u64(), c["size"].as_u64(), client) {
            (Some("stop"), ..) => return,
            (Some("publish"), Some(n), Some(size), Some(client)) if size >= 1 => {
                for _ in 0..n {
                    if !d.publish_one(client, size as usize).await {
                        return;
                    }
                }
            }
            (Some("publish"), _, _, None) => emit(
                now(),
                "driver_error",
                json!({"error": "publish: no connection (connect failed)"}),
            ),
            (Some("publish"), ..) => emit(
                now(),
                "driver_error",
                json!({"error": format!("publish needs count >= 0 and size >= 1: {line}")}),
            ),
            _ => emit(
                now(),
                "driver_error",
                json!({"error": format!("unknown command: {line}")}),
            ),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 1 && args[0] == "--describe" {
        describe();
        return;
    }
    if args.len() != 1 {
        eprintln!("usage: driver-async-nats --describe | driver-async-nats CONFIG.json");
        std::process::exit(2);
    }
    let cfg = read_config(&args[0]).unwrap_or_else(|e| fail(format!("bad config {}: {e}", args[0])));
    let opts = connect_options(&cfg).unwrap_or_else(|e| fail(e));

    let retrying = cfg.options.get("RetryOnFailedConnect") == Some(&Value::Bool(true));
    let events = Arc::new(Events {
        connects: AtomicUsize::new(0),
        retrying_first_connect: retrying,
        url: if cfg.servers.len() == 1 {
            json!(cfg.servers[0])
        } else {
            Value::Null
        },
        reconnect_url: match cfg.options.get("IgnoreDiscoveredServers") {
            Some(Value::Bool(true)) if cfg.servers.len() == 1 => json!(cfg.servers[0]),
            _ => Value::Null,
        },
        first_connect: Notify::new(),
        closed: AtomicBool::new(false),
        closed_now: Notify::new(),
    });
    let on_event = events.clone();
    let opts = opts.event_callback(move |event| {
        on_event.on(event);
        async {}
    });

    emit(
        now(),
        "driver_started",
        json!({"library": LIBRARY, "library_version": LIBRARY_VERSION, "language": "rust", "runtime": RUNTIME}),
    );
    let (end_lateness, lateness_ended) = oneshot::channel();
    let lateness = tokio::spawn(watch_lateness(lateness_ended));
    let (stop, _) = watch::channel(false);
    let servers = cfg.servers.clone();
    let d = Arc::new(Driver {
        cfg,
        seq: AtomicI64::new(0),
        stop,
    });
    emit(now(), "connect_started", json!({"servers": servers}));
    let client = match opts.connect(servers).await {
        Ok(client) => {
            if retrying {
                // connect() returned at once; the first Connected event is the connect.
                let (d, e, c) = (d.clone(), events.clone(), client.clone());
                tokio::spawn(async move {
                    e.first_connect.notified().await;
                    d.start(c).await;
                });
            } else {
                emit(now(), "connected", json!({"url": events.url}));
                d.clone().start(client.clone()).await;
            }
            Some(client)
        }
        Err(e) => {
            emit(now(), "connect_failed", json!({"error": e.to_string()}));
            None
        }
    };

    commands(&d, client.as_ref()).await; // until stop or end of stdin
    d.stop.send_replace(true);
    // Close through the library: drain, which ends in its Closed event. While it is
    // not connected its handler reads no commands until it is back, so then there
    // is nothing to wait for.
    let connected = client
        .as_ref()
        .is_some_and(|c| c.connection_state() == async_nats::connection::State::Connected);
    if let Some(client) = client.filter(|_| connected) {
        let closed = events.closed_now.notified();
        let waited = async {
            if client.drain().await.is_ok() {
                // Its handler completes a drain only when woken after handling it (by
                // the server, a timer or a command), up to seconds later. A flush is a
                // command: the first is handled with the drain, the second wakes it.
                for _ in 0..2 {
                    let _ = client.flush().await;
                }
                closed.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), waited).await.is_err() && !events.closed.load(Ordering::SeqCst)
        {
            eprintln!("driver-async-nats: no Closed event within 5 s of drain");
        }
    }
    let _ = end_lateness.send(());
    report_lateness(lateness.await.unwrap_or_default());
    emit(now(), "stopped", json!({}));
    // Library tasks (a reconnect loop) may still run: exit rather than wait for them.
    std::process::exit(0);
}
