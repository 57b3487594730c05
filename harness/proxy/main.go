// Command toxiproxy-harness is toxiproxy-server (the same flags, HTTP API and JSON log,
// built on Toxiproxy's own server package) whose log lines also carry "mono_ns":
// CLOCK_MONOTONIC nanoseconds, the harness's one clock, read in the goroutine that
// logs the event. Toxiproxy logs "Accepted client" right after accept() returns and
// "Remove link ..." right after a link's end, so the stamp is taken there, not when
// the harness gets round to reading the line from the pipe (docs/decisions.md, "The
// wire log"). Once a second it also logs "lateness": how late its own 50 ms timer
// woke, the error of those stamps when the proxy itself is kept off a CPU.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"
	"golang.org/x/sys/unix"
)

const toxiproxyModule = "github.com/Shopify/toxiproxy/v2"

// monoStamp adds the monotonic clock's reading to every event as it is logged.
type monoStamp struct{}

func (monoStamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		e.Int64("mono_ns", ts.Nano())
	}
}

// shortSlice asks the kernel's fair scheduler (EEVDF, Linux 6.12 and later) for the
// shortest time slice on every thread of the proxy, which lets a thread woken by an
// accept preempt a busy one at once, so the stamp is taken within a fraction of a
// millisecond of the accept on a loaded machine; threads started later inherit it.
// Unprivileged and harmless where unsupported (an older kernel ignores the field).
func shortSlice() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL, Runtime: 100_000}, 0)
		}
	}
}

func main() {
	host := flag.String("host", "localhost", "Host for toxiproxy's API to listen on")
	port := flag.String("port", "8474", "Port for toxiproxy's API to listen on")
	config := flag.String("config", "", "JSON file containing proxies to create on startup")
	seed := flag.Int64("seed", time.Now().UTC().UnixNano(), "Seed for randomizing toxics with")
	runtimeMetrics := flag.Bool("runtime-metrics", false, `enable runtime-related prometheus metrics (default "false")`)
	proxyMetrics := flag.Bool("proxy-metrics", false, `enable toxiproxy-specific prometheus metrics (default "false")`)
	printVersion := flag.Bool("version", false, `print the version (default "false")`)
	flag.Parse()

	shortSlice()
	stampVersion()
	if *printVersion {
		// The same words as toxiproxy-server: the set-up reads the version from them.
		fmt.Printf("toxiproxy-server version %s\n", toxiproxy.Version)
		return
	}
	rand.New(rand.NewSource(*seed)) // #nosec G404 -- as toxiproxy-server does

	logger := newLogger()
	log.Logger = logger
	logger.Info().Str("version", toxiproxy.Version).Msg("Starting Toxiproxy")

	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	if *proxyMetrics {
		server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	}
	if *runtimeMetrics {
		server.Metrics.RuntimeMetrics = collectors.NewRuntimeMetricCollectors()
	}
	if *config != "" {
		server.PopulateConfig(*config)
	}
	go lateness(logger)
	go func() {
		if err := server.Listen(net.JoinHostPort(*host, *port)); err != nil {
			server.Logger.Err(err).Msg("Server finished with error")
		}
	}()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	server.Logger.Info().Msg("Shutdown started")
	if err := server.Shutdown(); err != nil {
		logger.Err(err).Msg("Shutdown finished with error")
	}
}

// lateness logs, a window of about a second at a time, how late a 50 ms sleep of
// the proxy's woke: the figures of a driver's `lateness` event (docs/driver-contract.md).
// A proxy kept off a CPU (a container's share of a loaded machine) accepts, resets
// and stamps late by as much, which no timer of the harness or of a driver sees.
func lateness(logger zerolog.Logger) {
	const interval = 50 * time.Millisecond
	var late []float64
	opened := time.Now()
	for {
		asked := time.Now()
		time.Sleep(interval)
		woke := time.Now()
		late = append(late, float64(woke.Sub(asked)-interval)/1e6)
		if woke.Sub(opened) < time.Second {
			continue
		}
		sort.Float64s(late)
		q := func(p float64) float64 { return late[min(len(late)-1, int(p*float64(len(late))))] }
		logger.Info().Float64("interval_ms", 50).Int("n", len(late)).
			Float64("p50_ms", q(0.5)).Float64("p99_ms", q(0.99)).Float64("max_ms", late[len(late)-1]).
			Msg("lateness")
		late, opened = late[:0], woke
	}
}

// stampVersion reports Toxiproxy's version, the module's as go.mod pins it, unless
// the link step set one (toxiproxy.Version is "git" otherwise).
func stampVersion() {
	info, ok := debug.ReadBuildInfo()
	if !ok || toxiproxy.Version != "git" {
		return
	}
	for _, dep := range info.Deps {
		if dep.Path == toxiproxyModule {
			toxiproxy.Version = dep.Version
		}
	}
}

// newLogger is toxiproxy-server's logger (JSON on stdout, UTC time, short caller,
// LOG_LEVEL) with the monotonic stamp added.
func newLogger() zerolog.Logger {
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	zerolog.CallerMarshalFunc = func(_ uintptr, file string, line int) string {
		for i := len(file) - 1; i > 0; i-- {
			if file[i] == '/' {
				file = file[i+1:]
				break
			}
		}
		return file + ":" + strconv.Itoa(line)
	}
	logger := zerolog.New(os.Stdout).With().Caller().Timestamp().Logger().Hook(monoStamp{})
	val, ok := os.LookupEnv("LOG_LEVEL")
	if !ok {
		return logger
	}
	lvl, err := zerolog.ParseLevel(val)
	if err != nil {
		logger.Err(err).Msgf("unknown LOG_LEVEL value: \"%s\"", val)
		return logger
	}
	return logger.Level(lvl)
}
