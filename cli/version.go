package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// versionInfo is what `tandem version -o json` prints.
type versionInfo struct {
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

func (a *app) versionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client version, and the server's when one is reachable",
		Args:  cobra.NoArgs,
	}
	a.addConnectionFlags(cmd)
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		v := versionInfo{Client: clientVersion{Version: tandem.Version}}
		v.Server = a.serverVersion(cmd.Context())
		d := details{{"Client", v.Client.Version}}
		if v.Server != nil {
			d = append(d, [2]string{"Server", v.Server.Version + " (region " + v.Server.Region + ", " + v.Server.Endpoint + ")"})
		}
		return writeOutput(a.env.Stdout, *out, v, d)
	}
	return cmd
}

// serverVersion asks the configured endpoints for their region and version.
// The client version is useful on its own, so a bad configuration or an
// unreachable server is a note, not an error.
func (a *app) serverVersion(ctx context.Context) *serverVersion {
	conn, err := a.connection()
	if err != nil {
		a.note("Server version unknown: %s", describe(err))
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
	a.note("Server version unknown: no server reachable at %v.", conn.Endpoints)
	return nil
}
