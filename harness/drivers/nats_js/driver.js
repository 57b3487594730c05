'use strict';
// nats.js (v3, @nats-io/transport-node) driver: runs a workload with nats.js and
// prints what the library did. Follows docs/driver-contract.md (including "NATS
// options"). Standalone on purpose: it requires nats.js and Node's standard
// library, never the harness.

const fs = require('fs');
const readline = require('readline');
const util = require('util');

// stdout carries nothing but event lines.
console.log = (...args) => process.stderr.write(util.format(...args) + '\n');

const { connect } = require('@nats-io/transport-node');
const LIBRARY = '@nats-io/transport-node';
const VERSION = require('@nats-io/transport-node/package.json').version;

// Documented (nats.go) option names -> [nats.js connect option, kind]. nats.js
// takes milliseconds, as the contract does. Left out, so refused and not
// described (the scenario is then not-measured): ReconnectBufSize (nats.js has
// no limit on what it buffers while reconnecting) and CustomReconnectDelay
// (nats.js's reconnectDelayHandler is passed no attempt count to report).
const OPTIONS = {
  AllowReconnect: ['reconnect', 'bool'],
  MaxReconnect: ['maxReconnectAttempts', 'count'],
  ReconnectWait: ['reconnectTimeWait', 'ms'],
  ReconnectJitter: ['reconnectJitter', 'ms'],
  ReconnectJitterTLS: ['reconnectJitterTLS', 'ms'],
  Timeout: ['timeout', 'ms'],
  PingInterval: ['pingInterval', 'ms'],
  MaxPingsOut: ['maxPingOut', 'count'],
  // nats.js's way to keep retrying a failed first connect: attempts do not count
  // against maxReconnectAttempts until one connection was made.
  RetryOnFailedConnect: ['waitOnFirstConnect', 'bool'],
  NoRandomize: ['noRandomize', 'bool'],
  IgnoreDiscoveredServers: ['ignoreClusterUpdates', 'bool'],
  // TLS: trust the CA in this PEM file (nats.js tls: {caFile}).
  RootCAs: ['tls', 'text'],
  User: ['user', 'text'],
  Password: ['pass', 'text'],
};

const OBSERVES = [
  'driver_started', 'connect_started', 'attempt', 'attempt_failed', 'connected', 'connect_failed',
  'disconnected', 'reconnected', 'closed', 'servers_discovered', 'async_error', 'subscribed',
  'published', 'publish_failed', 'received', 'driver_error', 'lateness', 'stopped',
];

// CLOCK_MONOTONIC in ns, as a BigInt, written as an exact integer.
const now = () => process.hrtime.bigint();

let emitted = 0; // lines printed so far, reported on `stopped`

function emitRaw(kind, t, fields) {
  const rest = JSON.stringify(fields || {}).slice(1);
  process.stdout.write(`{"t_ns":${t === undefined ? now() : t},"kind":${JSON.stringify(kind)}` +
    (rest === '}' ? '}' : ',' + rest) + '\n');
  emitted += 1;
}

const errText = (e) => (e === undefined || e === null ? null : e instanceof Error ? e.message : String(e));

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
    emitRaw('lateness', undefined, {
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

// -- config --

function checkKind(name, kind, value) {
  const ok = {
    bool: typeof value === 'boolean',
    ms: typeof value === 'number' && Number.isFinite(value) && value >= 0,
    count: Number.isInteger(value) && (value >= 0 || (name === 'MaxReconnect' && value === -1)),
    text: typeof value === 'string' && value !== '',
  }[kind];
  if (!ok) throw new Error(`option ${name}: ${JSON.stringify(value)} is not a valid ${kind} value`);
}

function readConfig(path) {
  const c = JSON.parse(fs.readFileSync(path, 'utf8'));
  if (c.contract !== 1) throw new Error(`contract ${c.contract} is not 1`);
  if (!Array.isArray(c.servers) || c.servers.length === 0) throw new Error('servers: want a non-empty list');
  for (const s of c.servers) {
    if (!/^(nats|tls):\/\/[^/]+:\d+$/.test(s)) throw new Error(`server ${s}: want nats://host:port or tls://host:port`);
  }
  if ('connections' in c && !(Number.isInteger(c.connections) && c.connections >= 1)) {
    throw new Error('connections: want a whole number >= 1');
  }
  if (!c.options || typeof c.options !== 'object' || Array.isArray(c.options)) throw new Error('options: want an object');
  for (const [name, value] of Object.entries(c.options)) {
    if (!(name in OPTIONS)) throw new Error(`nats-js has no option ${name}`);
    checkKind(name, OPTIONS[name][1], value);
  }
  if ('RootCAs' in c.options) fs.readFileSync(c.options.RootCAs); // unreadable: a config error
  const w = c.workload;
  if (!w || typeof w.subject !== 'string' || !w.subject) throw new Error('workload.subject: want a non-empty string');
  if (typeof w.subscribe !== 'boolean') throw new Error('workload.subscribe: want a bool');
  const p = w.publish;
  if (p !== null && !(p && typeof p.rate === 'number' && p.rate > 0 && Number.isInteger(p.size) && p.size >= 1)) {
    throw new Error('workload.publish: want null or {rate > 0, size >= 1}');
  }
  return c;
}

function connectOptions(config) {
  const opts = { servers: config.servers };
  for (const [name, value] of Object.entries(config.options)) opts[OPTIONS[name][0]] = value;
  // A tls:// server requires TLS (what nats.go and nats.py make of the scheme).
  if ('RootCAs' in config.options) opts.tls = { caFile: config.options.RootCAs };
  else if (config.servers.some((s) => s.startsWith('tls://'))) opts.tls = {};
  return opts;
}

// -- driver --

// One connection: its nats.js connection, status watcher and workload. `index` is
// null for a driver of one connection (its events carry no `conn`); `counter`
// holds the sequence every connection of the process draws from.
function openConnection(config, index, counter) {
  const workload = config.workload;
  let nc = null;
  let pubTimer = null;
  let stopping = false;
  let connected = false; // connected now: an 'error' status is then not a failed attempt
  const tag = index === null ? {} : { conn: index };
  const emit = (kind, t, fields) => emitRaw(kind, t, { ...tag, ...(fields || {}) });

  function publishOne(size) {
    counter.seq += 1;
    const s = counter.seq;
    try {
      nc.publish(workload.subject, payload(s, size));
    } catch (e) {
      emit('publish_failed', undefined, { seq: s, bytes: size, error: errText(e) });
      return;
    }
    emit('published', undefined, { seq: s, bytes: size });
  }

  async function consume(sub) {
    // nats.js's idiom: the subscription's async iterator; a slow handler makes its
    // pending queue grow, which nats.js reports as a slowConsumer status.
    const delay = workload.handler_delay_ms || 0;
    for await (const m of sub) {
      const t = now();
      const n = parseInt(m.string().split(' ', 1)[0], 10);
      if (Number.isInteger(n)) emit('received', t, { seq: n });
      else emit('driver_error', t, { error: 'received a message without a sequence number' });
      if (delay) await new Promise((r) => setTimeout(r, delay));
    }
  }

  async function watch() {
    // nats.js reports what happens to the connection through status().
    for await (const s of nc.status()) {
      const t = now();
      switch (s.type) {
        case 'disconnect':
          connected = false;
          emit('disconnected', t, { error: null });
          break;
        case 'reconnect':
          connected = true;
          emit('reconnected', t, { url: s.server });
          break;
        case 'error':
          // A server error (-ERR, an authorization failure, ...). While not
          // connected it ends an attempt; nats.js does not say which server.
          if (connected) emit('async_error', t, { error: errText(s.error) });
          else emit('attempt_failed', t, { url: null, error: errText(s.error) });
          break;
        case 'update':
          if (s.added && s.added.length) emit('servers_discovered', t, { servers: s.added.map((h) => `nats://${h}`) });
          break;
        case 'slowConsumer':
          emit('async_error', t, { error: `slow consumer: ${s.pending} pending on ${s.sub.getSubject()}` });
          break;
        case 'staleConnection':
          emit('async_error', t, { error: 'stale connection' });
          break;
        default: // reconnecting (one per dial, seen as 'attempt' below), ping, ldm, close
          break;
      }
    }
  }

  function startWorkload() {
    if (workload.subscribe) {
      const subOpts = {};
      if (workload.sub_pending_msgs_limit) subOpts.slow = workload.sub_pending_msgs_limit;
      const sub = nc.subscribe(workload.subject, subOpts);
      emit('subscribed', undefined, { subject: workload.subject });
      consume(sub).catch((e) => emit('async_error', undefined, { error: errText(e) }));
    }
    const p = workload.publish;
    if (p) {
      const start = performance.now();
      let n = 0;
      const tick = () => {
        if (stopping) return;
        publishOne(p.size);
        n += 1;
        pubTimer = setTimeout(tick, Math.max(0, start + (n * 1000) / p.rate - performance.now()));
      };
      tick();
    }
  }

  const opts = connectOptions(config);
  // Called by nats.js before every connection attempt, first connect included,
  // with the server it will dial first in the pool; returning null keeps its choice.
  opts.reconnectToServer = (pool) => {
    emit('attempt', undefined, { url: pool.length ? `${config.servers[0].split('://')[0]}://${pool[0].listen}` : '' });
    return null;
  };

  emit('connect_started', undefined, { servers: config.servers });
  const connecting = connect(opts).then(
    (c) => {
      nc = c;
      connected = true;
      emit('connected', undefined, { url: `${config.servers[0].split('://')[0]}://${nc.getServer()}` });
      watch().catch((e) => emit('async_error', undefined, { error: errText(e) }));
      // closed() resolves (with the error, if any) when nats.js will not connect again.
      nc.closed().then((err) => emit('closed', now(), { error: errText(err) }));
      startWorkload();
    },
    (e) => emit('connect_failed', undefined, { error: errText(e) }),
  );

  async function close() {
    stopping = true;
    clearTimeout(pubTimer);
    await connecting;
    if (nc) {
      const done = nc.closed();
      await Promise.race([nc.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      await Promise.race([done, new Promise((r) => setTimeout(r, 1000))]);
    }
  }

  return { connecting, close, publishOne, hasConnection: () => nc !== null };
}

async function run(config) {
  emitRaw('driver_started', undefined, { library: LIBRARY, library_version: VERSION,
    language: 'javascript', runtime: process.version });
  const reportLateness = watchLateness();
  const n = config.connections === undefined ? null : config.connections;
  const counter = { seq: 0 };
  const conns = [];
  let stopping = false;
  // One after another: a storm is about reconnecting, and each connect is short.
  const connecting = (async () => {
    for (let i = 0; i < (n === null ? 1 : n) && !stopping; i++) {
      const c = openConnection(config, n === null ? null : i, counter);
      conns.push(c);
      await c.connecting;
    }
  })();
  const emit = emitRaw;
  const commands = readline.createInterface({ input: process.stdin, terminal: false });
  const stopped = new Promise((resolve) => {
    commands.on('line', (line) => {
      if (stopping || !line.trim()) return;
      let cmd;
      try {
        cmd = JSON.parse(line);
      } catch (e) {
        emit('driver_error', undefined, { error: `unreadable command: ${line}` });
        return;
      }
      if (cmd && cmd.cmd === 'stop') resolve();
      else if (cmd && cmd.cmd === 'publish' && Number.isInteger(cmd.count) && Number.isInteger(cmd.size)) {
        // A publish waits for the first connect to end, whatever its outcome;
        // commanded publishes go on the first connection.
        connecting.then(() => {
          if (!conns[0].hasConnection()) {
            emit('driver_error', undefined, { error: 'publish command without a connection (connect failed)' });
            return;
          }
          for (let i = 0; i < cmd.count; i++) conns[0].publishOne(cmd.size);
        });
      } else emit('driver_error', undefined, { error: `unknown command: ${line}` });
    });
    commands.on('close', resolve); // end of stdin is stop
  });

  await stopped;
  stopping = true;
  commands.close();
  await Promise.all(conns.map((c) => c.close()));
  reportLateness();
  emit('stopped', undefined, { emitted });
  process.stdin.destroy();
  // Exit on our own once the event loop is empty; should nats.js still hold a
  // handle (a first connect still retrying), do not hang the harness for it.
  setTimeout(() => {
    process.stderr.write('nats-js driver: event loop not empty 2 s after stop, exiting\n');
    process.exit(0);
  }, 2000).unref();
}

function main(argv) {
  if (argv.length === 1 && argv[0] === '--describe') {
    const options = Object.fromEntries(Object.entries(OPTIONS).map(([name, [, kind]]) => [name, kind]));
    process.stdout.write(JSON.stringify({
      contract: 1, client: 'nats-js', library: LIBRARY, library_version: VERSION,
      language: 'javascript', runtime: process.version, options, observes: OBSERVES, connections: true,
    }) + '\n');
    return;
  }
  if (argv.length !== 1) {
    process.stderr.write('usage: driver.js --describe | driver.js CONFIG.json\n');
    process.exitCode = 2;
    return;
  }
  let config;
  try {
    config = readConfig(argv[0]);
  } catch (e) {
    emitRaw('driver_error', undefined, { error: `bad config ${argv[0]}: ${e.message}` });
    process.exitCode = 2;
    return;
  }
  run(config);
}

main(process.argv.slice(2));
