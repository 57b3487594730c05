'use strict';
// rhea driver: runs a workload with rhea and prints what the library did.
// Follows docs/driver-contract.md (including "AMQP options"). Standalone on
// purpose: it requires rhea and Node's standard library, never the harness.

const fs = require('fs');
const readline = require('readline');
const util = require('util');

// rhea only warns on stderr already (console.warn/error); console.log is sent
// there too so that stdout carries nothing but event lines.
console.log = (...args) => process.stderr.write(util.format(...args) + '\n');

const rhea = require('rhea');
const RHEA_VERSION = require('rhea/package.json').version;

// Contract option name -> the kind of value it takes. Each maps to the rhea
// connect option of the same name, except connection_details (a documented
// function, below) and use_defaults_for (which host/port the driver leaves out).
// reconnect_object and url_and_urls are proton's: refused, and not listed.
// workload.publish.settlement (docs/driver-contract.md): sent unsettled, each
// settlement reported; the same, the next sent only once the one before settled;
// sent settled (at most once).
const SETTLEMENTS = ['unsettled', 'awaited', 'presettled'];
const OPTIONS = {
  reconnect: 'bool',
  initial_reconnect_delay: 'ms',
  max_reconnect_delay: 'ms',
  reconnect_limit: 'count',
  // rhea's other reconnect values: a number (a fixed delay in ms, rhea's
  // `reconnect: N`), and a function of the driver's own (below) it calls for
  // each delay. The documented options above configure rhea's built-in backoff.
  reconnect_delay: 'ms',
  reconnect_function: 'text',
  connection_details: 'text',
  use_defaults_for: 'text',
  // TLS and credentials: the CA (a PEM file, read and given as rhea's `ca`, which
  // it hands to tls.connect) an amqps:// server is checked against, and rhea's
  // `username` and `password` connect options (SASL PLAIN).
  ca: 'text',
  username: 'text',
  password: 'text',
};
const TEXT_VALUES = {
  connection_details: ['round-robin', 'amq-javascript-example'],
  reconnect_function: ['fixed', 'doubling'],
  use_defaults_for: ['port', 'host-and-port'],
};
// Text options that take any non-empty string (a path, a name, a secret).
const FREE_TEXT = ['ca', 'username', 'password'];

const OBSERVES = [
  'driver_started', 'connect_started', 'connect_failed', 'attempt_failed',
  'connected', 'disconnected', 'reconnected', 'closed', 'connection_details_cb', 'reconnect_delay_cb',
  'subscribed', 'link_opened', 'link_closed', 'published', 'publish_failed',
  'settled', 'received', 'async_error', 'driver_error', 'lateness', 'stopped',
];

// CLOCK_MONOTONIC in ns, as a BigInt; written into the line as an exact
// integer (a double would lose precision past 2^53 ns, about 104 days up).
const now = () => process.hrtime.bigint();

let emitted = 0; // lines printed so far, reported on `stopped`

function emit(kind, t, fields) {
  const rest = JSON.stringify(fields || {}).slice(1);
  process.stdout.write(`{"t_ns":${t === undefined ? now() : t},"kind":${JSON.stringify(kind)}` +
    (rest === '}' ? '}' : ',' + rest) + '\n');
  emitted += 1;
}

// The library's own text for an error: an Error's message, or an AMQP error
// ({condition, description}) as rhea hands it over.
function errText(e) {
  if (e === undefined || e === null) return null;
  if (typeof e === 'object' && e.condition) {
    return [e.condition, e.description || e.message].filter(Boolean).join(': ');
  }
  return e instanceof Error ? e.message : String(e);
}

// How late this process's event loop wakes from a timer: what a busy machine adds to
// every wait of the library, which the harness's own probe, in another process, does
// not see. Measured all along on the clock of t_ns, reported a window of about a
// second at a time, the last one before `stopped` (`lateness`,
// docs/driver-contract.md). unref: it never keeps the process up.
const LATENESS_INTERVAL_MS = 50;
const LATENESS_WINDOW_NS = 1_000_000_000n;

function watchLateness() {
  let lateMs = [];
  let opened = now();
  let timer = null;
  // Prints this window's figures, if it had a wake-up, and opens the next.
  const flush = () => {
    if (!lateMs.length) return;
    const s = lateMs.sort((a, b) => a - b);
    const ms = (x) => Math.round(x * 1000) / 1000;
    emit('lateness', undefined, {
      interval_ms: LATENESS_INTERVAL_MS, n: s.length, p50_ms: ms(s[Math.floor(s.length / 2)]),
      p99_ms: ms(s[Math.min(s.length - 1, Math.floor(0.99 * s.length))]), max_ms: ms(s[s.length - 1]),
    });
    lateMs = [];
  };
  const arm = () => {
    const due = now() + BigInt(LATENESS_INTERVAL_MS * 1e6);
    timer = setTimeout(() => {
      const woke = now();
      lateMs.push(Math.max(0, Number(woke - due) / 1e6));
      if (woke - opened >= LATENESS_WINDOW_NS) {
        flush();
        opened = woke;
      }
      arm();
    }, LATENESS_INTERVAL_MS).unref();
  };
  arm();
  return function report() {
    clearTimeout(timer);
    flush();
  };
}

function payload(seq, size) {
  const head = `${seq} `;
  return head + 'x'.repeat(Math.max(0, size - head.length));
}

function urlOf(socket) {
  const scheme = socket && socket.encrypted ? 'amqps' : 'amqp';
  if (!socket || !socket.remoteAddress) return `${scheme}://?`;
  const host = socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress;
  return `${scheme}://${host}:${socket.remotePort}`;
}

// -- config --

function checkKind(name, kind, value) {
  const ok = {
    bool: typeof value === 'boolean',
    ms: typeof value === 'number' && Number.isFinite(value) && value >= 0,
    count: Number.isInteger(value) && value >= 0,
    text: typeof value === 'string' && (FREE_TEXT.includes(name) ? value !== '' : TEXT_VALUES[name].includes(value)),
  }[kind];
  if (!ok) throw new Error(`option ${name}: ${JSON.stringify(value)} is not a valid ${kind} value`);
}

function parseServer(s) {
  const u = new URL(s);
  if (!['amqp:', 'amqps:'].includes(u.protocol) || !u.hostname || !u.port) {
    throw new Error(`server ${s}: want amqp://host:port or amqps://host:port`);
  }
  return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), tls: u.protocol === 'amqps:' };
}

function readConfig(path) {
  const c = JSON.parse(fs.readFileSync(path, 'utf8'));
  if (c.contract !== 1) throw new Error(`contract ${c.contract} is not 1`);
  if (!Array.isArray(c.servers) || c.servers.length === 0) throw new Error('servers: want a non-empty list');
  const servers = c.servers.map(parseServer);
  if ('connections' in c && !(Number.isInteger(c.connections) && c.connections >= 1)) {
    throw new Error('connections: want a whole number >= 1');
  }
  if (!c.options || typeof c.options !== 'object' || Array.isArray(c.options)) throw new Error('options: want an object');
  for (const [name, value] of Object.entries(c.options)) {
    if (!(name in OPTIONS)) throw new Error(`rhea driver cannot map option ${name}`);
    checkKind(name, OPTIONS[name], value);
  }
  const w = c.workload;
  if (!w || typeof w.subject !== 'string' || !w.subject) throw new Error('workload.subject: want a non-empty string');
  if (typeof w.subscribe !== 'boolean') throw new Error('workload.subscribe: want a bool');
  const p = w.publish;
  if (p !== null && !(p && typeof p.rate === 'number' && p.rate > 0 && Number.isInteger(p.size) && p.size >= 1)) {
    throw new Error('workload.publish: want null or {rate > 0, size >= 1}');
  }
  if (p && p.settlement !== undefined && !SETTLEMENTS.includes(p.settlement)) {
    throw new Error(`workload.publish.settlement: want one of ${SETTLEMENTS.join(', ')}`);
  }
  if (p && p.durable !== undefined && typeof p.durable !== 'boolean') {
    throw new Error('workload.publish.durable: want a bool');
  }
  // A slow consumer cannot be made without blocking rhea's one event loop.
  if (w.sub_pending_msgs_limit !== undefined && w.sub_pending_msgs_limit !== null) {
    throw new Error('workload.sub_pending_msgs_limit is not supported by the rhea driver');
  }
  if (w.handler_delay_ms) throw new Error('workload.handler_delay_ms is not supported by the rhea driver');
  const tls = servers.some((s) => s.tls);
  if (tls && !servers.every((s) => s.tls)) throw new Error('servers: amqps and amqp mixed');
  // The documented connection_details functions return host and port only; rhea
  // then connects over plain TCP whatever the first options said.
  if (tls && (servers.length > 1 || c.options.connection_details)) {
    throw new Error('rhea driver: TLS with a connection_details function cannot be expressed (it returns host and port only)');
  }
  if ('ca' in c.options && !tls) throw new Error('option ca needs amqps:// servers');
  if ('password' in c.options && !('username' in c.options)) {
    throw new Error('password without username: rhea uses a password only with a username');
  }
  if ('ca' in c.options) fs.readFileSync(c.options.ca); // unreadable: a config error
  // rhea reads initial/max delays only for reconnect true, and applies
  // reconnect_limit to a number but never to a function: refuse what it would ignore.
  const own = ['reconnect_delay', 'reconnect_function'].filter((k) => k in c.options);
  if (own.length > 1) throw new Error('reconnect_delay and reconnect_function are each rhea\'s one reconnect value: give one');
  if (own.length && ('reconnect' in c.options || 'initial_reconnect_delay' in c.options || 'max_reconnect_delay' in c.options)) {
    throw new Error(`${own[0]} cannot be combined with reconnect, initial_reconnect_delay or max_reconnect_delay (rhea ignores them then)`);
  }
  if ('reconnect_function' in c.options && 'reconnect_limit' in c.options) {
    throw new Error('reconnect_function cannot be combined with reconnect_limit (rhea does not apply the limit to a function)');
  }
  return { config: c, servers };
}

// -- the driver's own reconnect functions --
// rhea calls the function once per delay with the number of connections
// established so far; a negative return ends reconnecting. "fixed": always
// FIXED_MS. "doubling": from DOUBLING_FROM_MS, twice as long on each call, up to
// DOUBLING_CAP_MS, started again when that number changes, as rhea's own backoff.
const FIXED_MS = 500;
const DOUBLING_FROM_MS = 200;
const DOUBLING_CAP_MS = 1600;

function reconnectFunction(kind, emit) {
  let calls = 0;
  let established;
  return function (successful) {
    const t = now();
    if (successful !== established) {
      established = successful;
      calls = 0;
    }
    calls += 1;
    const delay = kind === 'fixed' ? FIXED_MS : Math.min(DOUBLING_CAP_MS, DOUBLING_FROM_MS * 2 ** (calls - 1));
    emit('reconnect_delay_cb', t, { attempts: calls, delay_ms: delay, established: successful });
    return delay;
  };
}

// -- the documented connection_details functions, instrumented --

// Report what the function returned, when rhea called it (once per attempt), with
// the connection's emit.
function instrumented(fn, emit) {
  return function () {
    const t = now();
    const d = fn();
    emit('connection_details_cb', t, { host: d.host === undefined ? null : d.host,
      port: d.port === undefined ? null : d.port });
    return d;
  };
}

// Red Hat build of Rhea, chapter 6.3, "Configuring failover", as printed.
function roundRobin(servers) {
  var hosts = servers.map((s) => ({ hostname: s.hostname, port: s.port }));
  var index = -1;
  function failover_fn() {
    index += 1;
    if (index == hosts.length) index = 0;
    return { host: hosts[index].hostname, port: hosts[index].port };
  }
  return failover_fn;
}

// AMQ JavaScript, chapter 6.3, as printed: hosts are plain strings, so
// hosts[index].hostname is undefined. Kept as is: the harness measures it.
function amqJavascriptExample(servers) {
  var hosts = servers.map((s) => s.hostname);
  var index = -1;
  function failover_fn() {
    index += 1;
    if (index == hosts.length) index = 0;
    return { host: hosts[index].hostname };
  }
  return failover_fn;
}

// -- driver --

// One connection: its rhea connection, the handlers on it (rhea hands a
// connection's events, and those of its links, to the connection's own listeners
// before the container's) and its workload. `index` is null for a driver of one
// connection (its events carry no `conn`); `counter` holds the sequence every
// connection of the process draws from; `started` is called once, when the first
// connection_open or failed attempt lets the next connection start.
function openConnection(c, config, servers, index, counter, started) {
  const workload = config.workload;
  const address = workload.subject;
  const tag = index === null ? {} : { conn: index };
  const emitC = (kind, t, fields) => emit(kind, t, { ...tag, ...(fields || {}) });
  let connection = null;
  let sender = null;
  let everOpen = false; // a connection_open has happened (connected vs reconnected)
  let isOpen = false; // open now: the next 'disconnected' is a loss, not a failed attempt
  let gaveUp = false; // 'closed' already reported for this connection
  let stopping = false;
  let pubTimer = null;
  let onClosed = null; // resolves the wait in stop()
  let firstOver = false;
  const seqOf = new WeakMap(); // rhea delivery -> seq
  const awaiting = new Set(); // seqs an awaiting application still waits for
  const settlement = () => (workload.publish && workload.publish.settlement) || 'unsettled';
  const first = () => {
    if (!firstOver) {
      firstOver = true;
      started();
    }
  };

  // One sender, opened once: at the first connection_open when publishing
  // steadily, else at the first publish command (rhea holds the message until
  // the link is attached and has credit).
  function getSender() {
    // Pre-settled: snd_settle_mode 1 (settled), rhea settles each delivery as it sends it.
    const presettled = settlement() === 'presettled';
    if (!sender && connection) sender = connection.open_sender(presettled ? { target: { address }, snd_settle_mode: 1 } : address);
    return sender;
  }

  function publishOne(size) {
    counter.seq += 1;
    const s = counter.seq;
    // Sent regardless of credit or connection state: what rhea does with it
    // (buffer, send later, drop, throw) is what the harness looks at.
    let delivery;
    try {
      // durable: the header's durable flag, so that a broker keeps it in its journal.
      const message = { body: payload(s, size) };
      if (workload.publish && workload.publish.durable) message.durable = true;
      delivery = sender.send(message);
    } catch (e) {
      emitC('publish_failed', undefined, { seq: s, bytes: size, error: errText(e) });
      return;
    }
    if (!delivery.settled) {
      seqOf.set(delivery, s);
      awaiting.add(s);
    }
    emitC('published', undefined, { seq: s, bytes: size });
  }

  function startWorkload() {
    // Links are opened once; rhea re-attaches them itself after a reconnect.
    if (workload.subscribe) {
      connection.open_receiver(address);
      emitC('subscribed', undefined, { subject: address });
    }
    const p = workload.publish;
    if (p) {
      getSender();
      // Absolute pacing: message n goes at start + n/rate.
      const start = performance.now();
      let n = 0;
      // Awaited: the next message only once the one before is settled; the
      // schedule then slips (it never bursts to catch up).
      const tick = () => {
        if (stopping) return;
        if (settlement() !== 'awaited' || awaiting.size === 0) publishOne(p.size);
        n += 1;
        pubTimer = setTimeout(tick, Math.max(0, start + (n * 1000) / p.rate - performance.now()));
      };
      tick();
    }
  }

  function listen(on) {
    on('connection_open', (ctx) => {
      const t = now();
      isOpen = true;
      gaveUp = false;
      if (!everOpen) {
        everOpen = true;
        emitC('connected', t, { url: urlOf(ctx.connection.socket) });
        startWorkload();
        first();
      } else {
        emitC('reconnected', t, { url: urlOf(ctx.connection.socket) });
        awaiting.clear(); // sent before the reconnect: in doubt, waited for no longer
      }
    });

    // rhea calls 'disconnected' both for the loss of an open connection and for
    // each failed attempt; context.reconnecting says whether it will try again
    // (it is left undefined when reconnect is off).
    on('disconnected', (ctx) => {
      const t = now();
      const err = errText(ctx.error);
      if (isOpen) {
        isOpen = false;
        emitC('disconnected', t, { error: err });
        // Told the connection dropped, an awaiting application stops waiting for
        // what it sent before; late settlements are still reported.
        awaiting.clear();
      } else {
        // rhea does not say which host the attempt went to.
        emitC('attempt_failed', t, { url: null, error: String(err) });
        first();
      }
      if (ctx.reconnecting !== true && !gaveUp) {
        gaveUp = true;
        emitC('closed', t, { error: `reconnecting ${ctx.reconnecting}: ${err}` });
      }
    });

    // The peer closed the connection. When the driver closed it (stop), this is
    // only the end of the close handshake. An error condition rhea counts as
    // non-fatal (its documented non_fatal_errors / all_errors_non_fatal options,
    // by default amqp:connection:forced) does not stop it: it reconnects and
    // says so in the 'disconnected' that follows, so that is not 'closed'.
    on('connection_close', (ctx) => {
      const t = now();
      if (stopping) {
        if (onClosed) onClosed();
        return;
      }
      const error = ctx.error || ctx.connection.error;
      const conn = ctx.connection;
      const nonFatal = error && (conn.get_option('all_errors_non_fatal', false) ||
        conn.get_option('non_fatal_errors', ['amqp:connection:forced']).includes(error.condition));
      if (nonFatal) {
        emitC('async_error', t, { error: errText(error) });
      } else if (!gaveUp) {
        gaveUp = true;
        emitC('closed', t, { error: errText(error) });
      }
    });
    // Always followed by 'connection_close' with the same error, reported there;
    // handled here so rhea does not raise it as an unhandled 'error'.
    on('connection_error', () => {});

    const role = (ctx) => (ctx.sender ? 'sender' : 'receiver');
    const linkOpened = (ctx) => {
      const t = now();
      const link = ctx.sender || ctx.receiver;
      const remote = ctx.sender ? link.target : link.source; // the peer's attach
      emitC('link_opened', t, { role: role(ctx), address: (remote && remote.address) || address });
    };
    on('sender_open', linkOpened);
    on('receiver_open', linkOpened);
    // *_error is always followed by *_close with the same error: reported once, there.
    const linkClosed = (ctx) => {
      const t = now();
      emitC('link_closed', t, { role: role(ctx), error: errText((ctx.sender || ctx.receiver).error) });
    };
    on('sender_close', linkClosed);
    on('receiver_close', linkClosed);
    on('sender_error', () => {});
    on('receiver_error', () => {});

    // The receiver auto-accepts (rhea's default).
    on('message', (ctx) => {
      const t = now();
      const body = ctx.message.body;
      const n = parseInt(String(body).split(' ', 1)[0], 10);
      if (Number.isInteger(n)) emitC('received', t, { seq: n });
      else emitC('driver_error', t, { error: `received a message without a sequence number: ${util.inspect(body).slice(0, 80)}` });
    });

    // rhea reports a 'modified' outcome as 'released' first (its default
    // treat_modified_as_released), then as 'modified': the first one counts.
    for (const outcome of ['accepted', 'rejected', 'released', 'modified']) {
      on(outcome, (ctx) => {
        const t = now();
        const s = seqOf.get(ctx.delivery);
        if (s === undefined) return;
        seqOf.delete(ctx.delivery);
        awaiting.delete(s);
        emitC('settled', t, { seq: s, outcome });
      });
    }

    on('protocol_error', (e) => emitC('async_error', now(), { error: errText(e) }));
    on('error', (e) => emitC('async_error', now(), { error: errText(e) }));
  }

  // -- connect --

  const opts = {};
  for (const name of ['reconnect', 'initial_reconnect_delay', 'max_reconnect_delay', 'reconnect_limit']) {
    if (name in config.options) opts[name] = config.options[name];
  }
  if ('reconnect_delay' in config.options) opts.reconnect = config.options.reconnect_delay;
  // The function keeps its own count: one per connection.
  if ('reconnect_function' in config.options) opts.reconnect = reconnectFunction(config.options.reconnect_function, emitC);
  if (servers[0].tls) opts.transport = 'tls'; // what rhea itself makes of an amqps URL
  if ('ca' in config.options) opts.ca = [fs.readFileSync(config.options.ca)];
  for (const name of ['username', 'password']) {
    if (name in config.options) opts[name] = config.options[name];
  }
  const defaults = config.options.use_defaults_for;
  if (defaults !== 'host-and-port') opts.host = servers[0].hostname;
  if (defaults === undefined) opts.port = servers[0].port;
  const details = config.options.connection_details ||
    (servers.length > 1 ? 'round-robin' : undefined); // the rhea doc's way to fail over
  if (details === 'round-robin') opts.connection_details = instrumented(roundRobin(servers), emitC);
  if (details === 'amq-javascript-example') opts.connection_details = instrumented(amqJavascriptExample(servers), emitC);

  emitC('connect_started', undefined, { servers: config.servers });
  try {
    connection = c.connect(opts);
  } catch (e) {
    emitC('connect_failed', undefined, { error: errText(e) });
    return null;
  }
  // Before any event: rhea dispatches them from the socket, on a later turn of the loop.
  listen((name, fn) => connection.on(name, fn));

  async function stop() {
    stopping = true;
    clearTimeout(pubTimer);
    // Nothing may connect again: turn reconnect off, and cancel a reconnect
    // already scheduled (close() does not; rhea has no public call for it).
    connection.set_reconnect(false);
    clearTimeout(connection.scheduled_reconnect);
    connection.scheduled_reconnect = undefined;
    if (connection.is_open()) {
      // Wait (at most 5 s) for the peer's close: the close handshake done.
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 5000);
        onClosed = () => { clearTimeout(timer); resolve(); };
        connection.close();
      });
    } else {
      connection.close();
      if (connection.socket && connection.socket.destroy) connection.socket.destroy();
    }
  }

  return { stop, getSender, publishOne };
}

// The driver process: its connections (one unless the config asks for
// `connections`), opened one after another, and the commands on stdin.
function run(config, servers) {
  emit('driver_started', undefined, { library: 'rhea', library_version: RHEA_VERSION,
    language: 'javascript', runtime: process.version });
  const reportLateness = watchLateness();
  const n = config.connections === undefined ? null : config.connections;
  const counter = { seq: 0 };
  const conns = []; // each connection rhea accepted, in order (null: its connect threw)
  let stopping = false;
  const c = rhea.create_container();

  // One after another, each once the one before has opened or failed its first
  // attempt: a storm is about reconnecting.
  function openNext() {
    while (!stopping && conns.length < (n === null ? 1 : n)) {
      const conn = openConnection(c, config, servers, n === null ? null : conns.length, counter, () => setImmediate(openNext));
      conns.push(conn);
      if (conn) return;
    }
  }
  openNext();

  // -- commands --

  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (stopping || !line.trim()) return;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      emit('driver_error', undefined, { error: `unreadable command: ${line}` });
      return;
    }
    if (cmd && cmd.cmd === 'stop') {
      stop();
    } else if (cmd && cmd.cmd === 'publish' && Number.isInteger(cmd.count) && Number.isInteger(cmd.size)) {
      // Commanded publishes go on the first connection.
      if (!conns[0] || !conns[0].getSender()) {
        emit('driver_error', undefined, { error: 'publish command without a connection (connect failed)' });
        return;
      }
      for (let i = 0; i < cmd.count; i++) conns[0].publishOne(cmd.size);
    } else {
      emit('driver_error', undefined, { error: `unknown command: ${line}` });
    }
  });
  rl.on('close', stop); // end of stdin is stop

  async function stop() {
    if (stopping) return;
    stopping = true;
    rl.close();
    await Promise.all(conns.filter((x) => x).map((x) => x.stop()));
    reportLateness();
    emit('stopped', undefined, { emitted });
    process.stdin.destroy();
    // Exit on our own once the event loop is empty; should rhea still hold a
    // handle (a socket mid-close), do not hang the harness for it.
    setTimeout(() => {
      process.stderr.write('rhea driver: event loop not empty 2 s after stop, exiting\n');
      process.exit(0);
    }, 2000).unref();
  }
}

function main(argv) {
  if (argv.length === 1 && argv[0] === '--describe') {
    process.stdout.write(JSON.stringify({
      contract: 1, client: 'rhea', library: 'rhea', library_version: RHEA_VERSION,
      language: 'javascript', runtime: process.version, options: OPTIONS, observes: OBSERVES,
      settlements: ['unsettled', 'awaited', 'presettled'], connections: true,
    }) + '\n');
    return;
  }
  if (argv.length !== 1) {
    process.stderr.write('usage: driver.js --describe | driver.js CONFIG.json\n');
    process.exitCode = 2;
    return;
  }
  let parsed;
  try {
    parsed = readConfig(argv[0]);
  } catch (e) {
    emit('driver_error', undefined, { error: `bad config ${argv[0]}: ${e.message}` });
    process.exitCode = 2;
    return;
  }
  run(parsed.config, parsed.servers);
}

main(process.argv.slice(2));
