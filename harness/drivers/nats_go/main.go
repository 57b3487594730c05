// Command driver-nats-go runs a workload with nats.go and prints what the
// library did as JSON Lines. It follows docs/driver-contract.md and imports
// nothing from the harness.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sys/unix"
)

const contract = 1

var observes = []string{
	"driver_started", "connect_started", "attempt", "attempt_failed", "connected",
	"connect_failed", "disconnected", "reconnected", "closed", "servers_discovered",
	"reconnect_delay_cb", "async_error", "subscribed", "published", "publish_failed",
	"received", "driver_error", "lateness", "stopped",
}

// ---- output ----

var (
	outMu   sync.Mutex
	emitted int64 // lines printed so far, reported on `stopped`
)

// now is CLOCK_MONOTONIC in ns: the clock the harness and its wire log share.
func now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

type fields map[string]any

// emit writes one event line. Callbacks run on library goroutines, so all
// output goes through one mutex; os.Stdout is unbuffered, one Write per line.
func emit(t int64, kind string, f fields) {
	ev := fields{"t_ns": t, "kind": kind}
	for k, v := range f {
		ev[k] = v
	}
	line, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
	emitted++
}

func errOrNil(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

// ---- lateness ----

// How late this process's timers fire: what a busy machine (or Go's scheduler and
// garbage collector) adds to every wait of the library, which the harness's own
// probe, in another process, does not see. Measured all along on the clock of
// t_ns, reported a window of about a second at a time, the last one before
// `stopped` (`lateness`, docs/driver-contract.md).
const (
	latenessInterval = 50 * time.Millisecond
	latenessWindow   = time.Second
)

type lateness struct {
	stop   chan struct{}
	done   chan struct{}
	lateMs []float64 // this window's, written by watch only, read by report once done is closed
}

func watchLateness() *lateness {
	l := &lateness{stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch()
	return l
}

// watch prints a window's figures at the first wake-up a window after it opened.
func (l *lateness) watch() {
	defer close(l.done)
	opened := now()
	due := now() + int64(latenessInterval)
	t := time.NewTimer(latenessInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			woke := now()
			l.lateMs = append(l.lateMs, max(0, float64(woke-due)/1e6))
			if woke-opened >= int64(latenessWindow) {
				l.flush()
				opened = woke
			}
			due = now() + int64(latenessInterval)
			t.Reset(latenessInterval)
		}
	}
}

// report ends the watch (so no wake-up prints after it) and prints the last
// window's figures, if the timer fired in it.
func (l *lateness) report() {
	close(l.stop)
	<-l.done
	l.flush()
}

// flush prints the window's figures, if any, and empties it.
func (l *lateness) flush() {
	s := l.lateMs
	if len(s) == 0 {
		return
	}
	slices.Sort(s)
	ms := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	emit(now(), "lateness", fields{
		"interval_ms": float64(latenessInterval) / 1e6, "n": len(s), "p50_ms": ms(s[len(s)/2]),
		"p99_ms": ms(s[min(len(s)-1, int(0.99*float64(len(s))))]), "max_ms": ms(s[len(s)-1]),
	})
	l.lateMs = s[:0]
}

// ---- config ----

type publishSpec struct {
	Rate float64 `json:"rate"`
	Size int     `json:"size"`
}

type config struct {
	Contract int      `json:"contract"`
	Client   string   `json:"client"`
	Servers  []string `json:"servers"`
	// Connections: how many connections to open, each with the same servers,
	// options and workload; nil is one, and then events carry no `conn`.
	Connections *int                       `json:"connections"`
	Options     map[string]json.RawMessage `json:"options"`
	Workload    struct {
		Subject             string       `json:"subject"`
		Subscribe           bool         `json:"subscribe"`
		Publish             *publishSpec `json:"publish"`
		SubPendingMsgsLimit *int         `json:"sub_pending_msgs_limit"`
		HandlerDelayMs      float64      `json:"handler_delay_ms"`
	} `json:"workload"`
}

// decode is strict: null or a value of the wrong JSON type is an error
// (json.Unmarshal alone would silently skip null).
func decode(raw json.RawMessage, dst any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("null")
	}
	return json.Unmarshal(raw, dst)
}

func decodeMs(raw json.RawMessage, dst *time.Duration) error {
	var ms float64
	if err := decode(raw, &ms); err != nil {
		return err
	}
	*dst = time.Duration(ms * float64(time.Millisecond))
	return nil
}

func decodeText(raw json.RawMessage, dst *string) error {
	if err := decode(raw, dst); err != nil {
		return err
	}
	if *dst == "" {
		return fmt.Errorf("empty")
	}
	return nil
}

type option struct {
	name string
	kind string // ms, bytes, count, bool or text: how the contract gives the value
	set  func(o *nats.Options, raw json.RawMessage) error
}

// options maps the documented nats.go option names to Options fields.
// Units from the contract: durations in ms, sizes in bytes.
var options = []option{
	{"AllowReconnect", "bool", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.AllowReconnect) }},
	{"MaxReconnect", "count", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.MaxReconnect) }},
	{"ReconnectWait", "ms", func(o *nats.Options, r json.RawMessage) error { return decodeMs(r, &o.ReconnectWait) }},
	{"ReconnectJitter", "ms", func(o *nats.Options, r json.RawMessage) error { return decodeMs(r, &o.ReconnectJitter) }},
	{"ReconnectJitterTLS", "ms", func(o *nats.Options, r json.RawMessage) error { return decodeMs(r, &o.ReconnectJitterTLS) }},
	{"ReconnectBufSize", "bytes", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.ReconnectBufSize) }},
	{"Timeout", "ms", func(o *nats.Options, r json.RawMessage) error { return decodeMs(r, &o.Timeout) }},
	{"PingInterval", "ms", func(o *nats.Options, r json.RawMessage) error { return decodeMs(r, &o.PingInterval) }},
	{"MaxPingsOut", "count", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.MaxPingsOut) }},
	{"RetryOnFailedConnect", "bool", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.RetryOnFailedConnect) }},
	{"NoRandomize", "bool", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.NoRandomize) }},
	{"IgnoreDiscoveredServers", "bool", func(o *nats.Options, r json.RawMessage) error { return decode(r, &o.IgnoreDiscoveredServers) }},
	// TLS: trust the CA in this PEM file (nats.RootCAs, which also sets Secure).
	{"RootCAs", "text", func(o *nats.Options, r json.RawMessage) error {
		var file string
		if err := decodeText(r, &file); err != nil {
			return err
		}
		return nats.RootCAs(file)(o)
	}},
	// Credentials, as nats.UserInfo sets them.
	{"User", "text", func(o *nats.Options, r json.RawMessage) error { return decodeText(r, &o.User) }},
	{"Password", "text", func(o *nats.Options, r json.RawMessage) error { return decodeText(r, &o.Password) }},
	// Installed per connection by install(), so that its events name the connection.
	{"CustomReconnectDelay", "ms", func(o *nats.Options, r json.RawMessage) error {
		var ms float64
		if err := decode(r, &ms); err != nil {
			return err
		}
		customDelayMs = &ms
		return nil
	}},
}

var customDelayMs *float64 // set by the CustomReconnectDelay option

func loadConfig(path string) (*config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var c config
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	w := c.Workload
	switch {
	case c.Contract != contract:
		return nil, fmt.Errorf("contract %d, want %d", c.Contract, contract)
	case len(c.Servers) == 0:
		return nil, fmt.Errorf("no servers")
	case c.Connections != nil && *c.Connections < 1:
		return nil, fmt.Errorf("connections must be >= 1")
	case c.Options == nil:
		return nil, fmt.Errorf("no options object")
	case w.Subject == "":
		return nil, fmt.Errorf("no workload.subject")
	case w.Publish != nil && (w.Publish.Rate <= 0 || w.Publish.Size < 1):
		return nil, fmt.Errorf("workload.publish needs rate > 0 and size >= 1")
	case w.SubPendingMsgsLimit != nil && *w.SubPendingMsgsLimit < 1:
		return nil, fmt.Errorf("workload.sub_pending_msgs_limit must be >= 1")
	case w.HandlerDelayMs < 0:
		return nil, fmt.Errorf("workload.handler_delay_ms must be >= 0")
	}
	return &c, nil
}

// buildOptions starts from the library defaults and sets only what the config names.
func buildOptions(c *config) (nats.Options, error) {
	opts := nats.GetDefaultOptions()
	for name, raw := range c.Options {
		found := false
		for _, o := range options {
			if o.name == name {
				found = true
				if err := o.set(&opts, raw); err != nil {
					return opts, fmt.Errorf("option %s: bad value %s: %v", name, raw, err)
				}
			}
		}
		if !found {
			return opts, fmt.Errorf("nats-go has no option %s", name)
		}
	}
	opts.Servers = c.Servers
	return opts, nil
}

// ---- attempts ----

// attemptDialer reports each dial as an `attempt`, then dials exactly as
// createConn does without a CustomDialer: a copy of the default Options.Dialer,
// i.e. net.Dialer{Timeout: Options.Timeout}. (createConn divides that timeout
// by the number of IPs a host name resolves to; for IP literals that is 1.)
type attemptDialer struct {
	timeout time.Duration
	c       *conn
}

func (d attemptDialer) Dial(network, address string) (net.Conn, error) {
	t := now()
	d.c.emit(t, "attempt", fields{"url": "nats://" + address})
	nd := net.Dialer{Timeout: d.timeout}
	return nd.Dial(network, address)
}

// ---- workload ----

type driver struct {
	cfg    *config
	conns  []*conn
	tagged bool         // events carry `conn` (the config asked for connections)
	seq    atomic.Int64 // one sequence for every connection of the process

	mu      sync.Mutex // guards stopped and the steady publishers' start
	stopped bool
	stopCh  chan struct{}
	steady  sync.WaitGroup

	lateness *lateness
}

// conn is one connection of the driver, with its own callbacks.
type conn struct {
	d      *driver
	idx    int
	nc     *nats.Conn    // nil if Connect failed
	closed chan struct{} // closed once `closed` has been printed

	connectReturned chan struct{}
	firstConnect    sync.Once
}

// emit prints an event of this connection, tagged with its index when asked for.
func (c *conn) emit(t int64, kind string, f fields) {
	if c.d.tagged {
		if f == nil {
			f = fields{}
		}
		f["conn"] = c.idx
	}
	emit(t, kind, f)
}

func payload(seq int64, size int) []byte {
	p := []byte(strconv.FormatInt(seq, 10) + " ")
	if len(p) < size {
		p = append(p, bytes.Repeat([]byte("x"), size-len(p))...)
	}
	return p
}

func (c *conn) publishOne(size int) {
	seq := c.d.seq.Add(1)
	err := c.nc.Publish(c.d.cfg.Workload.Subject, payload(seq, size))
	t := now()
	if err != nil {
		c.emit(t, "publish_failed", fields{"seq": seq, "bytes": size, "error": err.Error()})
	} else {
		c.emit(t, "published", fields{"seq": seq, "bytes": size})
	}
}

// publishSteadily paces by absolute schedule (message n at start + n/rate),
// so one slow moment does not lower the average rate.
func (c *conn) publishSteadily(p publishSpec) {
	d := c.d
	defer d.steady.Done()
	start := time.Now()
	for n := 0; ; n++ {
		at := start.Add(time.Duration(float64(n) / p.Rate * float64(time.Second)))
		select {
		case <-d.stopCh:
			return
		case <-time.After(time.Until(at)):
		}
		c.publishOne(p.Size)
	}
}

func (c *conn) onMessage(m *nats.Msg) {
	t := now()
	head, _, _ := bytes.Cut(m.Data, []byte(" "))
	seq, err := strconv.ParseInt(string(head), 10, 64)
	if err != nil {
		c.emit(t, "driver_error", fields{"error": fmt.Sprintf("unparseable payload %q", head)})
	} else {
		c.emit(t, "received", fields{"seq": seq})
	}
	if ms := c.d.cfg.Workload.HandlerDelayMs; ms > 0 {
		time.Sleep(time.Duration(ms * float64(time.Millisecond)))
	}
}

// onFirstConnect emits `connected` and starts the workload, once.
func (c *conn) onFirstConnect(t int64, nc *nats.Conn) {
	c.firstConnect.Do(func() {
		d := c.d
		c.emit(t, "connected", fields{"url": nc.ConnectedUrl()})
		w := d.cfg.Workload
		if w.Subscribe {
			sub, err := nc.Subscribe(w.Subject, c.onMessage)
			if err != nil {
				c.emit(now(), "driver_error", fields{"error": "subscribe: " + err.Error()})
			} else {
				c.emit(now(), "subscribed", fields{"subject": w.Subject})
				if w.SubPendingMsgsLimit != nil {
					// bytesLimit -1: the library only enforces limits > 0.
					if err := sub.SetPendingLimits(*w.SubPendingMsgsLimit, -1); err != nil {
						c.emit(now(), "driver_error", fields{"error": "SetPendingLimits: " + err.Error()})
					}
				}
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if w.Publish != nil && !d.stopped {
			d.steady.Add(1)
			go c.publishSteadily(*w.Publish)
		}
	})
}

func (c *conn) install(opts *nats.Options) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = nats.DefaultTimeout // what Connect() substitutes for 0
	}
	opts.CustomDialer = attemptDialer{timeout: timeout, c: c}
	if customDelayMs != nil {
		ms := *customDelayMs
		delay := time.Duration(ms * float64(time.Millisecond))
		opts.CustomReconnectDelayCB = func(attempts int) time.Duration {
			c.emit(now(), "reconnect_delay_cb", fields{"attempts": attempts, "delay_ms": ms})
			return delay
		}
	}

	// Connect() queues ConnectedCB after any successful initial connect, and
	// doReconnect queues it when RetryOnFailedConnect connects later. Wait until
	// Connect has returned so the main goroutine reports a plain connect and
	// this callback only a late one; firstConnect keeps it to one event.
	opts.ConnectedCB = func(nc *nats.Conn) {
		t := now()
		<-c.connectReturned
		c.onFirstConnect(t, nc)
	}
	opts.DisconnectedErrCB = func(nc *nats.Conn, err error) {
		c.emit(now(), "disconnected", fields{"error": errOrNil(err)})
	}
	opts.ReconnectedCB = func(nc *nats.Conn) {
		t := now()
		c.emit(t, "reconnected", fields{"url": nc.ConnectedUrl()})
	}
	var closeOnce sync.Once
	opts.ClosedCB = func(nc *nats.Conn) {
		t := now()
		c.emit(t, "closed", fields{"error": errOrNil(nc.LastError())})
		closeOnce.Do(func() { close(c.closed) })
	}
	opts.DiscoveredServersCB = func(nc *nats.Conn) {
		t := now()
		servers := nc.DiscoveredServers()
		if servers == nil {
			servers = []string{}
		}
		c.emit(t, "servers_discovered", fields{"servers": servers})
	}
	opts.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
		c.emit(now(), "async_error", fields{"error": errOrNil(err)})
	}
	opts.ReconnectErrCB = func(nc *nats.Conn, err error) {
		// The callback runs on the library's async queue and does not say which
		// server failed; the `attempt` events (and the wire) say where it dialed.
		c.emit(now(), "attempt_failed", fields{"url": nil, "error": errOrNil(err)})
	}
}

func (d *driver) stop() {
	d.mu.Lock()
	d.stopped = true
	close(d.stopCh)
	d.mu.Unlock()
	d.steady.Wait()
	deadline := time.After(5 * time.Second)
	for _, c := range d.conns {
		if c.nc != nil {
			c.nc.Close()
		}
	}
	for _, c := range d.conns {
		if c.nc == nil {
			continue
		}
		select {
		case <-c.closed:
		case <-deadline:
			fmt.Fprintf(os.Stderr, "driver-nats-go: no ClosedCB within 5s (connection %d)\n", c.idx)
			deadline = time.After(0)
		}
	}
	d.lateness.report()
	outMu.Lock()
	n := emitted
	outMu.Unlock()
	emit(now(), "stopped", fields{"emitted": n})
}

type command struct {
	Cmd   string `json:"cmd"`
	Count *int   `json:"count"`
	Size  *int   `json:"size"`
}

func (d *driver) commands() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		line := bytes.TrimSpace(in.Bytes())
		if len(line) == 0 {
			continue
		}
		var c command
		if err := json.Unmarshal(line, &c); err != nil {
			emit(now(), "driver_error", fields{"error": fmt.Sprintf("unreadable command %q: %v", line, err)})
			continue
		}
		switch {
		case c.Cmd == "stop":
			return
		case c.Cmd == "publish" && (c.Count == nil || c.Size == nil || *c.Count < 0 || *c.Size < 1):
			emit(now(), "driver_error", fields{"error": fmt.Sprintf("publish needs count >= 0 and size >= 1: %s", line)})
		case c.Cmd == "publish" && d.conns[0].nc == nil:
			emit(now(), "driver_error", fields{"error": "publish: no connection (connect failed)"})
		case c.Cmd == "publish":
			// Commanded publishes go on the first connection.
			for i := 0; i < *c.Count; i++ {
				d.conns[0].publishOne(*c.Size)
			}
		default:
			emit(now(), "driver_error", fields{"error": "unknown command: " + c.Cmd})
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "driver-nats-go: stdin:", err)
	}
}

func describe() {
	names := map[string]string{}
	for _, o := range options {
		names[o.name] = o.kind
	}
	out, _ := json.Marshal(fields{
		"contract": contract, "client": "nats-go", "library": "github.com/nats-io/nats.go",
		"library_version": "v" + nats.Version, "language": "go", "runtime": runtime.Version(),
		"options": names, "observes": observes, "connections": true,
	})
	fmt.Println(string(out))
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--describe" {
		describe()
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: driver-nats-go --describe | driver-nats-go CONFIG.json")
		os.Exit(2)
	}
	cfg, err := loadConfig(os.Args[1])
	if err != nil {
		emit(now(), "driver_error", fields{"error": fmt.Sprintf("bad config %s: %v", os.Args[1], err)})
		os.Exit(2)
	}
	opts, err := buildOptions(cfg)
	if err != nil {
		emit(now(), "driver_error", fields{"error": err.Error()})
		os.Exit(2)
	}

	n := 1
	if cfg.Connections != nil {
		n = *cfg.Connections
	}
	d := &driver{cfg: cfg, tagged: cfg.Connections != nil, stopCh: make(chan struct{})}
	for i := 0; i < n; i++ {
		d.conns = append(d.conns, &conn{d: d, idx: i, closed: make(chan struct{}), connectReturned: make(chan struct{})})
	}

	emit(now(), "driver_started", fields{
		"library": "github.com/nats-io/nats.go", "library_version": "v" + nats.Version,
		"language": "go", "runtime": runtime.Version(),
	})
	d.lateness = watchLateness()
	// One after another: a storm is about reconnecting, and the connects are
	// over in about a millisecond each.
	for _, c := range d.conns {
		o := opts // each connection its own copy, with its own callbacks
		c.install(&o)
		c.emit(now(), "connect_started", fields{"servers": cfg.Servers})
		nc, err := o.Connect()
		t := now()
		if err != nil {
			c.emit(t, "connect_failed", fields{"error": err.Error()})
		} else {
			c.nc = nc
			// With RetryOnFailedConnect, Connect may return before any connection;
			// ConnectedCB reports it then.
			if nc.IsConnected() {
				c.onFirstConnect(t, nc)
			}
		}
		close(c.connectReturned)
	}

	d.commands() // until stop or EOF
	d.stop()
	os.Exit(0)
}
