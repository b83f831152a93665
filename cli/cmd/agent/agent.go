package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	tandemagent "github.com/tandemml/tandem/agent"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdAgent returns `tandem agent`, which serves an amlcompute cluster from this host.
func NewCmdAgent(f *cmdutil.Factory) *cobra.Command {
	var computeName, id, workDir, containerRuntime string
	var heartbeat time.Duration
	cmd := &cobra.Command{
		Use:   "agent --compute NAME [--endpoint URL --token T]",
		Short: "Serve an amlcompute cluster: claim its queued jobs, run them here, report back",
		Long: "Serve an amlcompute cluster of a workspace. The agent long-polls its region for the\n" +
			"cluster's queued jobs (at most max_instances run at once across all agents), runs each\n" +
			"as a local process the way the server's local compute does, streams the log back while\n" +
			"it runs, uploads the log and outputs and reports the end. It heartbeats while it works;\n" +
			"a region that stops hearing from it (tandem server --agent-timeout) queues the job again\n" +
			"for another agent, up to --max-retries times. Stop it with SIGINT or SIGTERM.",
		Args: cobra.NoArgs,
	}
	f.AddConnectionFlags(cmd)
	cmd.Flags().StringVar(&computeName, "compute", "", "the amlcompute cluster to serve")
	cmd.Flags().StringVar(&id, "id", "", "agent id (default: HOST-RANDOM)")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", tandemagent.DefaultHeartbeat, "how often to tell the region the agent lives while a job runs")
	cmd.Flags().StringVar(&containerRuntime, "container-runtime", "auto", "where jobs whose environment has an image run: auto (docker, else podman), none, or a runtime command")
	cmd.Flags().StringVar(&workDir, "work-dir", "", "where runs get their temporary directories (default: the system's)")
	cmd.MarkFlagRequired("compute")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		c, err := client.FindCompute(cmd.Context(), ws, computeName)
		if err != nil {
			return err
		}
		if c.Type != "amlcompute" {
			return tandem.Errorf(tandem.EInvalid, "compute %q is a %s; agents serve amlcompute clusters", computeName, c.Type).WithTarget(computeName)
		}
		host, _ := os.Hostname()
		if id == "" {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			id = host + "-" + hex.EncodeToString(b)
		}
		ag := &tandemagent.Agent{
			Client: client, Workspace: ws, Compute: computeName, ID: id, Host: host, Heartbeat: heartbeat,
			Logger: slog.New(slog.NewTextHandler(f.Env.Stderr, nil)).With("agent", id),
		}
		ag.Local.TempDir, ag.Local.Runtime = workDir, containerRuntime
		fmt.Fprintf(f.Env.Stdout, "agent %s serving compute %s of workspace %s (max %d jobs at once across its agents)\n", id, computeName, ws, c.MaxInstances)
		err = ag.Run(cmd.Context())
		if err == nil {
			f.Note("Agent stopped.")
		}
		return err
	}
	return cmd
}
