package serve

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/server"
)

// shutdownTimeout bounds how long a stopping server waits for requests in
// flight.
const shutdownTimeout = 15 * time.Second

// NewCmdServer returns `tandem server`, which runs one region server in this
// process until interrupted.
func NewCmdServer(f *cmdutil.Factory) *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one region server until interrupted",
		Long: "Run one region server until SIGINT or SIGTERM.\n\n" +
			"On first start it creates a region admin token in DATA/admin.token (mode 0600) and prints its path.\n" +
			"The first line of output is \"listening on http://HOST:PORT\"; with --listen HOST:0 the port is picked.",
		Example: "  tandem server --region eastus --data /var/lib/tandem --listen 0.0.0.0:7070 --db postgres://tandem@db/tandem",
		Args:    cobra.NoArgs,
	}
	flags := cmd.Flags()
	flags.StringVar(&cfg.Region, "region", "local", "region name")
	addLocalServerFlags(flags, &cfg)
	flags.StringVar(&cfg.DB, "db", "", "metadata database URL, e.g. postgres://user@host/db (default: SQLite file in DATA)")
	flags.StringVar(&cfg.Storage, "storage", "", "blob storage URL, e.g. azblob://container (default: file://DATA/storage)")
	flags.StringVar(&cfg.KeyFile, "key-file", "", "vault key file with the keys that encrypt secrets, created with mode 0600 on first start (default: DATA/vault.key)")
	flags.IntVar(&cfg.RetentionDays, "retention-days", 14, "days a deleted workspace stays recoverable before it is purged")
	flags.StringVar(&cfg.Advertise, "advertise", "", "URL peers and clients reach this server at (default: http://LISTEN-ADDRESS)")
	flags.Int64Var(&cfg.MaxUploadMB, "max-upload-mb", 10<<10, "largest single uploaded file (notebook or asset file), in MiB")
	flags.DurationVar(&cfg.AgentTimeout, "agent-timeout", jobs.DefaultAgentTimeout, "how long an agent may stay silent before its job is queued again (or failed)")
	flags.IntVar(&cfg.MaxRetries, "max-retries", jobs.DefaultMaxRetries, "times a job whose agent stopped heartbeating is queued again before it fails")
	flags.StringVar(&cfg.ContainerRuntime, "container-runtime", "auto", "where jobs whose environment has an image run: auto (docker, else podman, whichever works), none (always on the host), or a runtime command")
	flags.IntVar(&cfg.QuotaCores, "quota-cores", 0, "cores the region's amlcompute clusters may hold in all (max_instances × vCPUs of their size); 0: no quota")
	flags.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", time.Hour, "how often every workspace's metadata is snapshotted to its storage (workspaces/<id>/snapshots/); negative: never")
	flags.DurationVar(&cfg.JobOutputSync, "job-output-sync", jobs.DefaultJobOutputSync, "how often a running job's outputs and log are uploaded and recorded (so that a resubmission after a failover resumes from them); negative: only when the job ends")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cfg.JobOutputSync == 0 {
			return tandem.Errorf(tandem.EInvalid, "--job-output-sync must not be 0; give a duration such as 10s, or a negative one to upload outputs only when jobs end")
		}
		if cfg.MaxUploadMB < 1 {
			return tandem.Errorf(tandem.EInvalid, "--max-upload-mb must be at least 1, got %d", cfg.MaxUploadMB)
		}
		if cfg.RetentionDays < 1 {
			return tandem.Errorf(tandem.EInvalid, "--retention-days must be at least 1, got %d", cfg.RetentionDays)
		}
		s, err := openServer(cmd.Context(), f, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "listening on %s\n", s.Endpoint())
		fmt.Fprintf(f.Env.Stdout, "region %s, data in %s\n", s.Config.Region, s.Config.DataDir)
		fmt.Fprintf(f.Env.Stdout, "admin token: %s%s\n", s.AdminTokenPath(), createdNote(s.AdminTokenCreated()))
		return serveUntilDone(cmd.Context(), f, s)
	}
	return cmd
}

// addLocalServerFlags adds the flags that `server` and `up` share.
func addLocalServerFlags(flags *pflag.FlagSet, cfg *server.Config) {
	flags.StringVar(&cfg.DataDir, "data", "tandem-data", "data directory")
	flags.StringVar(&cfg.Listen, "listen", "127.0.0.1:7070", "HOST:PORT to listen on; port 0 picks a free port")
}

// openServer opens a region server on cfg, with the data directory made
// absolute against the working directory and logs going to stderr.
func openServer(ctx context.Context, f *cmdutil.Factory, cfg server.Config) (*server.Server, error) {
	cfg.DataDir = f.Path(cfg.DataDir)
	if cfg.KeyFile != "" {
		cfg.KeyFile = f.Path(cfg.KeyFile)
	}
	cfg.LogOutput = f.Env.Stderr
	s := server.New(cfg)
	if err := s.Open(ctx); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	return s, nil
}

// serveUntilDone waits for ctx to end (SIGINT or SIGTERM in the binary)
// and then closes s, giving requests in flight shutdownTimeout to finish.
func serveUntilDone(ctx context.Context, f *cmdutil.Factory, s *server.Server) error {
	<-ctx.Done()
	f.Note("Shutting down...")
	return closeServer(ctx, s)
}

// closeServer closes s within shutdownTimeout, even when ctx has ended.
func closeServer(ctx context.Context, s *server.Server) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		return fmt.Errorf("stop server: %w", err)
	}
	return nil
}

func createdNote(created bool) string {
	if created {
		return " (created)"
	}
	return ""
}
