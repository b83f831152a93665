package server

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// EnvPprof names an address (host:port, keep it on loopback) where a
// server also serves Go's profiles under /debug/pprof/, for measuring
// where its time goes; unset, nothing is served.
const EnvPprof = "TANDEM_PPROF_ADDR"

// startPprof serves the profiles on os.Getenv(EnvPprof), when set.
func startPprof(logger *slog.Logger) *http.Server {
	addr := os.Getenv(EnvPprof)
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("pprof: not served", "addr", addr, "err", err)
		return nil
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof", "err", err)
		}
	}()
	logger.Info("serving profiles", "addr", ln.Addr().String()+"/debug/pprof/")
	return srv
}
