package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// Config holds the settings of one region server.
type Config struct {
	Region        string // region name; default "local"
	DataDir       string // data directory; default "./tandem-data"
	Listen        string // HOST:PORT; default "127.0.0.1:7070"; port 0 picks a free port
	DB            string // metadata database URL; default SQLite file in DataDir
	Storage       string // blob storage URL; default file://DataDir/storage
	RetentionDays int    // soft-delete retention; default 14
	Logger        *slog.Logger
	LogOutput     io.Writer
}

// Server is one region server.
type Server struct {
	Config Config
}

// New returns a server with cfg's zero fields set to defaults.
func New(cfg Config) *Server { return &Server{Config: cfg} }

// Open creates the data directory, opens the metadata store and the blob
// store, creates the admin token on first start, listens and starts serving.
func (s *Server) Open(ctx context.Context) error { return errors.New("not implemented") }

// Addr returns the address the server listens on (after Open).
func (s *Server) Addr() string { return "" }

// Endpoint returns the server's base URL, http://Addr().
func (s *Server) Endpoint() string { return "" }

// AdminTokenPath returns the path of the admin token file.
func (s *Server) AdminTokenPath() string { return "" }

// AdminTokenCreated reports whether Open created the admin token (first start).
func (s *Server) AdminTokenCreated() bool { return false }

// Close stops accepting requests, waits for in-flight ones until ctx ends,
// and closes the stores.
func (s *Server) Close(ctx context.Context) error { return nil }
