package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/httpapi/mlflowapi"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/vault"
)

// Config holds the settings of one region server. Zero fields take the
// defaults documented on each.
type Config struct {
	Region        string        // region name; default "local"
	DataDir       string        // data directory; default "./tandem-data"
	Listen        string        // HOST:PORT; default "127.0.0.1:7070"; port 0 picks a free port
	DB            string        // metadata database URL; default SQLite file DataDir/tandem.db
	Storage       string        // blob storage URL; default file://DataDir/storage
	KeyFile       string        // vault key file (the key-encryption keys); default DataDir/vault.key
	AdminToken    string        // admin token file; default DataDir/admin.token (regions may share one)
	RetentionDays int           // soft-delete retention in days; default 14
	MaxUploadMB   int64         // largest single uploaded file in MiB; default 10240 (10 GiB)
	QuotaCores    int           // cores the region's clusters may hold in all; 0: no quota
	AgentTimeout  time.Duration // silence after which an agent's job is requeued; default 30s
	MaxRetries    int           // times a job whose agent was lost is queued again
	// ContainerRuntime runs local jobs whose environment has an image:
	// "auto" (docker, else podman), "none", or a runtime command.
	ContainerRuntime string
	Advertise        string        // URL peers and clients reach this server at; default http://<listen address>
	PurgeInterval    time.Duration // how often expired workspaces are purged; default 1m
	Logger           *slog.Logger  // default: text logs to LogOutput
	LogOutput        io.Writer     // default: os.Stderr

	// SnapshotInterval is how often every workspace's metadata is
	// snapshotted to its storage; default 1h, negative: never (hot/cold
	// primaries still snapshot at their pair's interval).
	SnapshotInterval time.Duration
	// ColdPoll is how often hot/cold secondaries ask for a newer
	// snapshot; default the pair's snapshot interval, at most 1m.
	ColdPoll time.Duration
	// JobOutputSync is how often a running job's outputs and log are
	// uploaded; default 10s (region.DefaultJobOutputSync), negative: only
	// at the job's end.
	JobOutputSync time.Duration
}

// Server is one region server.
type Server struct {
	Config Config

	Store      tandem.Store
	Blobs      tandem.BlobStore
	Region     *region.Region // the kernel
	App        *app.Region    // the services on it
	Replicator *replication.Manager

	adminPath    string
	adminCreated bool
	ln           net.Listener
	http         *http.Server
	pprof        *http.Server  // see EnvPprof
	started      bool          // the services were started
	served       chan struct{} // closed when Serve returned
}

// New returns a server with cfg's zero fields set to defaults.
func New(cfg Config) *Server {
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "./tandem-data"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7070"
	}
	if cfg.RetentionDays == 0 {
		cfg.RetentionDays = 14
	}
	if cfg.MaxUploadMB == 0 {
		cfg.MaxUploadMB = 10 << 10
	}
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = time.Minute
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = time.Hour
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(cfg.LogOutput, nil))
	}
	return &Server{Config: cfg, served: make(chan struct{})}
}

// Open creates the data directory, opens the metadata store and the blob
// store, creates the admin token on first start, listens and starts
// serving. On error everything opened so far is closed again.
func (s *Server) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			if s.ln != nil {
				s.ln.Close()
				s.ln = nil
			}
			s.closeStores()
		}
	}()
	cfg := &s.Config
	if cfg.RetentionDays < 0 {
		return fmt.Errorf("--retention-days must not be negative, got %d", cfg.RetentionDays)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	if err := ensureWritableDir(dir); err != nil {
		return err
	}
	if cfg.DB == "" {
		cfg.DB = "sqlite://" + filepath.Join(dir, "tandem.db")
	}
	if cfg.Storage == "" {
		cfg.Storage = "file://" + filepath.Join(dir, "storage")
	}
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(dir, "vault.key")
	}
	keys, err := vault.OpenKeyFile(cfg.KeyFile) // its errors name the key file
	if err != nil {
		return err
	}

	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	db, err := sqlstore.Open(ctx, cfg.DB)
	if err != nil {
		return err
	}
	s.Store = db
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	blobs, err := blobstore.Open(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	s.Blobs = blobstore.Instrument(blobs, reg, scheme(cfg.Storage))

	k, a := s.services(keys, reg)

	s.adminPath = cfg.AdminToken
	if s.adminPath == "" {
		s.adminPath = filepath.Join(dir, "admin.token")
	}
	if s.adminCreated, err = k.EnsureAdminToken(ctx, s.adminPath); err != nil {
		return fmt.Errorf("admin token: %w", err)
	}

	api := s.api(a, reg)
	// Services start before the API serves: a returning old primary learns
	// of a failover made while it was away before it takes a single write.
	s.started = true
	a.Start(ctx)
	s.http = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.pprof = startPprof(cfg.Logger)
	go func() {
		defer close(s.served)
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("serve", "err", err)
		}
	}()
	cfg.Logger.Info("region server started", "region", cfg.Region, "addr", s.Addr(),
		"db", redact(cfg.DB), "storage", cfg.Storage, "retention_days", cfg.RetentionDays)
	return nil
}

// services builds the region's kernel and its services from the config.
func (s *Server) services(keys tandem.Vault, reg *prometheus.Registry) (*region.Region, *app.Region) {
	cfg := &s.Config
	k := region.New(cfg.Region, s.Store, s.Blobs)
	k.Retention = time.Duration(cfg.RetentionDays) * 24 * time.Hour
	k.MaxUpload = cfg.MaxUploadMB << 20
	k.PurgeInterval = cfg.PurgeInterval
	k.Logger = cfg.Logger
	k.Vault = keys
	k.Endpoint = cfg.Advertise
	if k.Endpoint == "" {
		k.Endpoint = "http://" + s.Addr()
	}
	k.Dial = httpapi.PeerClient
	s.Region = k
	a := app.New(k)
	s.App = a
	a.Jobs.QuotaCores = cfg.QuotaCores
	a.Jobs.AgentTimeout, a.Jobs.MaxRetries = cfg.AgentTimeout, cfg.MaxRetries
	a.Jobs.ContainerRuntime = cfg.ContainerRuntime
	a.Jobs.JobOutputSync = cfg.JobOutputSync
	a.Backup.StorageURL = cfg.Storage
	a.Backup.OpenStorage = func(ctx context.Context, url string) (tandem.BlobStore, error) {
		return blobstore.Open(ctx, url)
	}
	a.Backup.SnapshotInterval = cfg.SnapshotInterval
	s.Replicator = a.EnableReplication(httpapi.PeerClient, reg, cfg.ColdPoll)
	return k, a

}

// api returns the REST API over the services: each route group gets the
// service that owns it.
func (s *Server) api(a *app.Region, reg *prometheus.Registry) *httpapi.Server {
	k := a.Kernel
	return &httpapi.Server{
		Workspaces: k,
		Tokens:     k,
		Notebooks:  k,
		Secrets:    a.Secrets,
		Assets:     a.Assets,
		Jobs:       a.Jobs,
		Runs:       a.Tracking,
		Endpoint:   k.Endpoint,
		MLflow: &mlflowapi.Handler{
			Auth:        k,
			Runs:        a.Tracking,
			Experiments: a.Tracking,
			MLflowRuns:  a.Tracking,
			Artifacts:   a.Tracking,
			Registry:    a.Assets,
			Logger:      s.Config.Logger,
		},
		Datastores:   a.Assets,
		Agents:       a.Jobs,
		Computes:     a.Jobs,
		Digests:      a.Backup,
		Archives:     a.Backup,
		Pairs:        k,
		Failovers:    a.Failover,
		Divergences:  a.Failover,
		Peers:        k,
		Replication:  a.Feed,
		Snapshots:    a.Feed,
		FailoverPeer: a.Failover,
		Auth:         k,
		Info:         k.Info,
		Ready:        s.ready,
		Logger:       s.Config.Logger,
		Gatherer:     reg,
		Registerer:   reg,
	}
}

// ensureWritableDir creates dir and proves it can be written.
func ensureWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s cannot be created: %w", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func (s *Server) ready(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return tandem.Errorf(tandem.EUnavailable, "metadata database unreachable: %v", err)
	}
	if err := s.Blobs.Ping(ctx); err != nil {
		return tandem.Errorf(tandem.EUnavailable, "storage unreachable: %v", err)
	}
	return nil
}

// Addr returns the address the server listens on (after Open).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Endpoint returns the server's base URL, http://Addr().
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// AdminTokenPath returns the path of the admin token file.
func (s *Server) AdminTokenPath() string { return s.adminPath }

// AdminTokenCreated reports whether Open created the admin token (first start).
func (s *Server) AdminTokenCreated() bool { return s.adminCreated }

// Close stops accepting requests, waits for in-flight ones until ctx ends,
// stops background work and closes the stores.
func (s *Server) Close(ctx context.Context) error {
	var errs []error
	if s.App != nil {
		s.App.Shutdown()
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down API: %w", err))
		}
		<-s.served
	}
	if s.pprof != nil {
		s.pprof.Close()
	}
	if s.started {
		s.App.Stop()
	}
	errs = append(errs, s.closeStores())
	s.Config.Logger.Info("region server stopped", "region", s.Config.Region)
	return errors.Join(errs...)
}

func (s *Server) closeStores() error {
	var errs []error
	if s.Blobs != nil {
		errs = append(errs, s.Blobs.Close())
		s.Blobs = nil
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
		s.Store = nil
	}
	return errors.Join(errs...)
}

func scheme(url string) string {
	if i := strings.Index(url, "://"); i > 0 {
		return url[:i]
	}
	return "file"
}

// redact hides the password of a database URL for logs.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				return dsn[:i+3] + rest[:colon] + ":xxxxx" + rest[at:]
			}
		}
	}
	return dsn
}
