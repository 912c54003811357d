package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/dlbp/dlbp/pkg/cluster"
	"github.com/dlbp/dlbp/pkg/version"
)

// Daemon is a started daemon: Shutdown leaves gracefully (draining, handing
// back work) within ctx, Close stops at once.
type Daemon interface {
	Shutdown(ctx context.Context) error
	Close() error
}

// ShutdownTimeout bounds a graceful shutdown.
const ShutdownTimeout = 30 * time.Second

// Main is the whole of a daemon's main function: parse options, build the
// logger, start the daemon with start, and wait for signals. The first
// SIGINT or SIGTERM shuts down gracefully; a second exits at once. It
// returns the process exit status.
func Main(role cluster.Role, args []string, stderr io.Writer, start func(*Options, *zap.Logger) (Daemon, error)) int {
	o, err := Parse(role, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, ErrVersion) {
		fmt.Println(version.Get().String(string(role)))
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", role, strings.TrimPrefix(err.Error(), ErrUsage.Error()+": "))
		return 2
	}
	log, err := NewLogger(o.LogLevel, o.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", role, err)
		return 2
	}
	defer log.Sync()
	log = log.With(zap.String("daemon", o.Name))
	v := version.Get()
	log.Info("starting", zap.String("version", v.Version), zap.String("commit", v.Commit), zap.String("go", v.Go))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	d, err := start(o, log)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		fmt.Fprintf(stderr, "%s: cannot start: %v\n", role, err)
		return 1
	}
	sig := <-sigs
	log.Info("shutting down gracefully; send the signal again to exit at once", zap.String("signal", sig.String()))
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("shutdown", zap.Error(err))
			return 1
		}
		log.Info("stopped")
		return 0
	case sig := <-sigs:
		log.Warn("exiting at once", zap.String("signal", sig.String()))
		d.Close()
		return 1
	}
}

// Startable is a daemon built but not started.
type Startable interface {
	Daemon
	Start() error
}

// Started starts a freshly built daemon, closing it if it cannot start:
// what every main does with the result of its package's New.
func Started[D Startable](d D, err error) (Daemon, error) {
	if err != nil {
		return nil, err
	}
	if err := d.Start(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
