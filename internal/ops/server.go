// Package ops holds the daemon's operations plumbing: the HTTP endpoint for
// health, readiness and metrics (Server), and systemd's notify protocol
// (Notifier: readiness, status, stopping and the watchdog).
//
// Goroutine model: a started Server runs one goroutine that serves and one
// that owns its lifecycle; both end by Close or by the cancellation of the
// context given to Start. Notifier.RunWatchdog runs in the caller's
// goroutine until its context is done. Nothing else starts goroutines.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultListen is the address a Server listens on when
// ServerOptions.Listen is empty: local only, since the endpoint has no
// authentication.
const DefaultListen = "127.0.0.1:9792"

// Timeouts of the HTTP server. The endpoint serves small bodies to probes
// and scrapers, so they are short.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	// shutdownTimeout bounds the graceful shutdown that follows the
	// cancellation of Start's context.
	shutdownTimeout = 5 * time.Second
)

// ServerOptions configures a Server. The zero value serves /healthz (always
// healthy) and /readyz (always ready) on DefaultListen, without /metrics.
type ServerOptions struct {
	// Listen is the TCP host:port to listen on; port 0 picks a free port
	// (see Server.Addr). Default DefaultListen.
	Listen string
	// Ready reports readiness for /readyz: nil when ready, else an error
	// whose text is served as the reason. It must be fast, must not block
	// and must be safe for concurrent use; the error text must hold no
	// secret. Nil means always ready.
	Ready func() error
	// Detail, when set, adds notes to a ready answer ("ready; <notes>"),
	// e.g. accounts that wait for a person. Same rules as Ready.
	Detail func() []string
	// Alive reports liveness for /healthz. Same rules as Ready. Nil means
	// always alive.
	Alive func() bool
	// Metrics, if not nil, is served on /metrics (for example
	// metrics.Metrics.Handler()). Nil means /metrics answers 404.
	Metrics http.Handler
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/
	// (heap, goroutine, profile?seconds=N, trace, …). Default false: it
	// exposes the process's internals, and a CPU profile costs CPU.
	Pprof bool
	// Logger receives the server's start and its errors, as is (name it,
	// e.g. log.Named("http")). Nil means zap.NewNop(). Requests are not
	// logged.
	Logger *zap.Logger
}

// Server is the operations HTTP endpoint:
//
//   - GET /healthz: 200 "ok" while Alive() is true, else 503 with a reason.
//   - GET /readyz: 200 "ready" while Ready() is nil (followed by
//     "; <note>; …" when Detail has notes), else 503 with the error text.
//   - GET /metrics: ServerOptions.Metrics, when set.
//   - anything else: 404 (405 for another method on a known path).
//
// Create it with NewServer, then call Start once and Close once. Its
// methods are safe for concurrent use.
type Server struct {
	opts ServerOptions
	log  *zap.Logger

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the serving goroutines have ended
	closed  bool
}

// NewServer returns a Server that is not yet listening.
func NewServer(opts ServerOptions) *Server {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{opts: opts, log: log}
}

// Handler returns the server's request router, for tests or to mount it in
// another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Start listens on ServerOptions.Listen and serves in the background. It
// returns once the listener is open (or with the error that prevented it),
// so Addr is valid afterwards. When ctx is canceled the server shuts down
// gracefully, giving in-flight requests up to 5s; Close does the same on
// demand. Start may be called only once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.closed {
		return errors.New("ops: server already started or closed")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("ops: listen on %q: %w", s.opts.Listen, err)
	}
	s.ln = ln
	errorLog, _ := zap.NewStdLogAt(s.log, zap.WarnLevel) // cannot fail for Warn
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
	s.closing = make(chan struct{})
	s.done = make(chan struct{})
	srv, closing, done := s.srv, s.closing, s.done
	s.log.Debug("serving /healthz and /readyz", zap.String("listen", ln.Addr().String()),
		zap.Bool("metrics", s.opts.Metrics != nil))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
			}
		case <-closing: // Close shuts the server down
		case err := <-served:
			s.log.Error("serving stopped", zap.Error(err))
			return
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serving stopped", zap.Error(err))
		}
	}()
	return nil
}

// Addr returns the address the server listens on (with the real port when
// Listen had port 0), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server: it stops accepting, waits for in-flight requests
// until ctx is done (then closes their connections), and waits for the
// server's goroutines to end. It returns ctx's error if the graceful part
// was cut short. Close before Start, or a second Close, returns nil.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, closing, done := s.srv, s.closing, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	close(closing)
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	<-done
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Alive != nil && !s.opts.Alive() {
		plain(w, http.StatusServiceUnavailable, "unhealthy: the daemon's main loop is not making progress")
		return
	}
	plain(w, http.StatusOK, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	msg := "ready"
	if s.opts.Detail != nil {
		if notes := s.opts.Detail(); len(notes) > 0 {
			msg += "; " + strings.Join(notes, "; ")
		}
	}
	plain(w, http.StatusOK, msg)
}

// plain writes msg, folded onto one line, as a text/plain response.
func plain(w http.ResponseWriter, code int, msg string) {
	msg = strings.Join(strings.Fields(msg), " ")
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}
