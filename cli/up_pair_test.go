package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

// TestE2EUpTwoRegions runs `tandem up --regions 2` and uses it the way the
// README says: config.json lists both endpoints, a write to the primary
// shows up in the secondary, the secondary refuses writes, and both
// workspaces print the same digest.
func TestE2EUpTwoRegions(t *testing.T) {
	dir := t.TempDir()
	up := start(t, dir, "up", "--regions", "2", "--listen", "127.0.0.1:0")
	out := up.waitFor(t, "Press Ctrl+C to stop.")
	m := listeningRE.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("want two listening lines in:\n%s", out)
	}
	primary, secondary := m[0][1], m[1][1]
	cfg, err := cmdutil.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Endpoints) != 2 || cfg.Endpoints[0] != primary || cfg.Endpoints[1] != secondary {
		t.Fatalf("config.json endpoints = %v, want [%s %s]", cfg.Endpoints, primary, secondary)
	}
	cmdtest.WriteFiles(t, dir, map[string]string{"x.ipynb": `{"cells": []}`})
	mustRun(t, dir, nil, "notebook", "upload", "--path", "x.ipynb")

	onSecondary := map[string]string{cmdutil.EnvEndpoint: secondary}
	caughtUp := decode[tandem.PairStatus](t, mustRun(t, dir, onSecondary, "pair", "status", "--workspace", "default", "--wait", "20s", "-o", "json"))
	if r := caughtUp.Replication; r.AppliedSeq != r.PrimarySeq || r.AppliedSeq < 2 {
		t.Fatalf("pair status --wait returned before catching up: %+v", r)
	}
	if r := mustRun(t, dir, onSecondary, "notebook", "list", "-o", "json"); !strings.Contains(r.stdout, "x.ipynb") {
		t.Fatalf("caught up, but the notebook is not on the secondary: %s", r.stdout)
	}
	// A write sent to the secondary is refused there and followed to the
	// primary it names.
	if r := mustRun(t, dir, onSecondary, "notebook", "upload", "--path", "x.ipynb", "--dest", "y.ipynb"); !strings.Contains(r.stderr, "following the primary at "+primary) {
		t.Fatalf("write sent to the secondary: stderr %q, want it followed to %s", r.stderr, primary)
	}

	status := decode[tandem.PairStatus](t, mustRun(t, dir, onSecondary, "pair", "status", "--workspace", "default", "-o", "json"))
	if status.Role != tandem.RoleSecondary || status.Tier != tandem.TierHotWarm || status.PeerRegion != "eastus" {
		t.Fatalf("pair status on the secondary: %+v", status.Pair)
	}
	// A planned failover; then the same commands, with only config.json,
	// keep working: the CLI follows the primary.
	failover := decode[tandem.FailoverRecord](t, mustRun(t, dir, nil, "pair", "failover", "--workspace", "default", "-o", "json"))
	if failover.ToRegion != "westus" || failover.NewEpoch != 2 {
		t.Fatalf("failover: %+v", failover)
	}
	cmdtest.WriteFiles(t, dir, map[string]string{"after.ipynb": `{"cells": [1]}`})
	r := mustRun(t, dir, nil, "notebook", "upload", "--path", "after.ipynb")
	if !strings.Contains(r.stderr, "following the primary at "+secondary) {
		t.Fatalf("upload after failover: stderr %q, want a note that it followed the primary", r.stderr)
	}
	if r := mustRun(t, dir, onSecondary, "notebook", "list", "-o", "json"); !strings.Contains(r.stdout, "after.ipynb") {
		t.Fatalf("the write after failover is not in the new primary: %s", r.stdout)
	}
	hist := decode[[]tandem.FailoverRecord](t, mustRun(t, dir, onSecondary, "pair", "history", "--workspace", "default", "-o", "json"))
	if len(hist) != 1 || hist[0].Kind != "planned" {
		t.Fatalf("history: %+v", hist)
	}
	// And back.
	mustRun(t, dir, nil, "pair", "status", "--workspace", "default", "--wait", "20s") // eastus, now the secondary
	mustRun(t, dir, nil, "pair", "failback", "--workspace", "default")
	mustRun(t, dir, nil, "notebook", "upload", "--path", "after.ipynb", "--dest", "after-failback.ipynb")
	mustRun(t, dir, onSecondary, "pair", "status", "--workspace", "default", "--wait", "20s") // westus, the secondary again

	type digest struct {
		Digest string `json:"digest"`
	}
	a := decode[digest](t, mustRun(t, dir, nil, "workspace", "digest", "--name", "default", "-o", "json"))
	b := decode[digest](t, mustRun(t, dir, onSecondary, "workspace", "digest", "--name", "default", "-o", "json"))
	if a.Digest == "" || a.Digest != b.Digest {
		t.Fatalf("digests: primary %q, secondary %q; want equal", a.Digest, b.Digest)
	}
}
