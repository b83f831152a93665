package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// TestE2EPairHotCold pairs two `tandem server`s hot/cold from the command
// line and checks that `pair status` on the secondary shows the last
// snapshot's time once one has been applied.
func TestE2EPairHotCold(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vault.key")
	_, eastEP, eastTok := startServer(t, "--region", "eastus", "--key-file", keyFile, "--snapshot-interval", "-1s")
	_, westEP, westTok := startServer(t, "--region", "westus", "--key-file", keyFile, "--snapshot-interval", "-1s")
	tokenFile := func(name, secret string) string {
		p := filepath.Join(dir, name+".token")
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eastEnv := map[string]string{cmdutil.EnvEndpoint: eastEP, cmdutil.EnvToken: eastTok, cmdutil.EnvWorkspace: "vision"}
	westEnv := map[string]string{cmdutil.EnvEndpoint: westEP, cmdutil.EnvToken: westTok, cmdutil.EnvWorkspace: "vision"}
	mustRun(t, dir, eastEnv, "region", "add", "--name", "westus", "--endpoint", westEP, "--token-file", tokenFile("west", westTok))
	mustRun(t, dir, westEnv, "region", "add", "--name", "eastus", "--endpoint", eastEP, "--token-file", tokenFile("east", eastTok))
	mustRun(t, dir, eastEnv, "workspace", "create", "--name", "vision")
	mustRun(t, dir, eastEnv, "pair", "create", "--secondary-region", "westus", "--tier", "hot-cold", "--snapshot-interval", "300ms")

	deadline := time.Now().Add(30 * time.Second)
	for {
		r := mustRun(t, dir, westEnv, "pair", "status", "-o", "json")
		st := decode[tandem.PairStatus](t, r)
		if st.Replication.LastSnapshotAt != nil && st.Replication.State == "replicating" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot applied after 30s: %s", r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := mustRun(t, dir, westEnv, "pair", "status").stdout
	t.Logf("tandem pair status:\n%s", out)
	for _, want := range []string{"hot-cold", "secondary", "replicating", "Last snapshot"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pair status shows no %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Last snapshot") && strings.TrimSpace(strings.TrimPrefix(line, "Last snapshot")) == "" {
			t.Fatalf("pair status shows no time for the last snapshot:\n%s", out)
		}
	}
}
