package serve

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
)

// upPair starts two local regions that share an admin token and a vault
// keyring (so that a client and the secrets follow the workspace from one
// to the other), registers them with each other, pairs the workspace
// hot/warm from the first to the second, and writes config.json listing
// both endpoints.
func upPair(ctx context.Context, f *cmdutil.Factory, base server.Config, workspace string, names []string) error {
	data := f.Path(base.DataDir)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	listens, err := pairListens(base.Listen)
	if err != nil {
		return err
	}
	var servers []*server.Server
	defer func() {
		for _, s := range servers {
			closeServer(ctx, s)
		}
	}()
	for i, name := range names {
		cfg := base
		cfg.Region = name
		cfg.DataDir = filepath.Join(data, name)
		cfg.Listen = listens[i]
		cfg.KeyFile = filepath.Join(data, "vault.key")
		cfg.AdminToken = filepath.Join(data, "admin.token")
		s, err := openServer(ctx, f, cfg)
		if err != nil {
			return fmt.Errorf("region %s: %w", name, err)
		}
		servers = append(servers, s)
	}
	primary, secondary := servers[0], servers[1]
	b, err := os.ReadFile(primary.AdminTokenPath())
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(b))
	created, paired, err := linkPair(ctx, primary, secondary, names[1], token, workspace)
	if err != nil {
		return err
	}

	configPath := f.Path("config.json")
	configNote := configPath + " (written)"
	cfg := &cmdutil.ConfigFile{WorkspaceName: workspace, Endpoints: []string{primary.Endpoint(), secondary.Endpoint()}, TokenFile: primary.AdminTokenPath()}
	if cmdutil.StatConfig(configPath) == cmdutil.ConfigForeign {
		configNote = configPath + " exists and is not Tandem's: left it unchanged"
	} else if err := cmdutil.WriteConfig(configPath, cfg); err != nil {
		return fmt.Errorf("write config: %w", err)
	}

	w := f.Env.Stdout
	fmt.Fprintf(w, "listening on %s\n", primary.Endpoint())
	fmt.Fprintf(w, "listening on %s\n", secondary.Endpoint())
	fmt.Fprintf(w, "Tandem is up: two regions, data in %s.\n\n", data)
	fmt.Fprintf(w, "  Primary:     %s at %s\n", names[0], primary.Endpoint())
	fmt.Fprintf(w, "  Secondary:   %s at %s (read-only copy, replicated continuously)\n", names[1], secondary.Endpoint())
	fmt.Fprintf(w, "  Token file:  %s (admin in both regions)\n", primary.AdminTokenPath())
	fmt.Fprintf(w, "  Workspace:   %s%s, paired hot/warm (%s)\n", workspace, createdNote(created), paired)
	fmt.Fprintf(w, "  Config:      %s\n\n", configNote)
	fmt.Fprintln(w, "Try, from this directory in another terminal:")
	for _, c := range []string{
		"tandem notebook upload --path x.ipynb",
		"tandem pair status --workspace " + workspace + " --endpoint " + secondary.Endpoint(),
		"tandem notebook list --endpoint " + secondary.Endpoint(),
		"tandem workspace digest --name " + workspace,
	} {
		fmt.Fprintln(w, "  "+c)
	}
	fmt.Fprintln(w, "\nPress Ctrl+C to stop.")

	<-ctx.Done()
	f.Note("Shutting down...")
	return nil
}

// linkPair registers the two regions with each other, creates the workspace
// in the primary unless it exists, and pairs it hot/warm with the secondary
// (region secondaryName) unless it is paired. It tells whether it created the workspace and
// whether the pair is "created" or "existing".
func linkPair(ctx context.Context, primary, secondary *server.Server, secondaryName, token, workspace string) (created bool, paired string, err error) {
	pc := httpapi.NewClient([]string{primary.Endpoint()}, token)
	sc := httpapi.NewClient([]string{secondary.Endpoint()}, token)
	for _, link := range []struct {
		c    *httpapi.Client
		peer *server.Server
	}{{pc, secondary}, {sc, primary}} {
		if _, err := link.c.AddRegion(ctx, link.peer.Config.Region, link.peer.Endpoint(), token); err != nil {
			return false, "", fmt.Errorf("register region %s: %w", link.peer.Config.Region, err)
		}
	}
	if _, err := pc.FindWorkspace(ctx, workspace); tandem.IsCode(err, tandem.ENotFound) {
		if err := pc.CreateWorkspace(ctx, &tandem.Workspace{Name: workspace}); err != nil {
			return false, "", fmt.Errorf("create workspace %q: %w", workspace, err)
		}
		created = true
	} else if err != nil {
		return false, "", err
	}
	paired = "existing"
	if _, err := pc.PairStatus(ctx, workspace); tandem.IsCode(err, tandem.ENotFound) {
		if _, err := pc.CreatePair(ctx, tandem.PairRequest{Workspace: workspace, SecondaryRegion: secondaryName, Tier: tandem.TierHotWarm}); err != nil {
			return false, "", fmt.Errorf("pair workspace %q: %w", workspace, err)
		}
		paired = "created"
	} else if err != nil {
		return false, "", err
	}
	return created, paired, nil
}

// pairListens returns the listen addresses of the two regions: the given
// one and the next port (or a free port each when the port is 0).
func pairListens(listen string) ([2]string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return [2]string{}, tandem.Errorf(tandem.EInvalid, "--listen %q: %v", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return [2]string{}, tandem.Errorf(tandem.EInvalid, "--listen %q: port is not a number", listen)
	}
	if p == 0 {
		return [2]string{listen, listen}, nil
	}
	return [2]string{listen, net.JoinHostPort(host, strconv.Itoa(p+1))}, nil
}
