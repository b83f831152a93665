package version

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
)

// Info is what `tandem version -o json` prints.
type Info struct {
	Client clientVersion  `json:"client"`
	Server *serverVersion `json:"server,omitempty"`
}

type clientVersion struct {
	Version string `json:"version"`
}

type serverVersion struct {
	Endpoint string `json:"endpoint"`
	Region   string `json:"region"`
	Version  string `json:"version"`
}

// serverInfoTimeout bounds how long `version` waits for a server.
const serverInfoTimeout = 3 * time.Second

// NewCmdVersion returns `tandem version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client version, and the server's when one is reachable",
		Args:  cobra.NoArgs,
	}
	f.AddConnectionFlags(cmd)
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		v := Info{Client: clientVersion{Version: tandem.Version}}
		v.Server = findServerVersion(cmd.Context(), f)
		d := cmdutil.Details{{"Client", v.Client.Version}}
		if v.Server != nil {
			d = append(d, [2]string{"Server", v.Server.Version + " (region " + v.Server.Region + ", " + v.Server.Endpoint + ")"})
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, v, d)
	}
	return cmd
}

// findServerVersion asks the configured endpoints for their region and version.
// The client version is useful on its own, so a bad configuration or an
// unreachable server is a note, not an error.
func findServerVersion(ctx context.Context, f *cmdutil.Factory) *serverVersion {
	conn, err := f.Connection()
	if err != nil {
		f.Note("Server version unknown: %s", cmdutil.Describe(err))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, serverInfoTimeout)
	defer cancel()
	for _, ep := range conn.Endpoints {
		info, err := httpapi.NewClient([]string{ep}, conn.Token).Info(ctx)
		if err == nil {
			return &serverVersion{Endpoint: ep, Region: info.Region, Version: info.Version}
		}
	}
	f.Note("Server version unknown: no server reachable at %v.", conn.Endpoints)
	return nil
}
