package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// TestForcedFailoverAfterKill runs trials of: writes to the primary from a
// client that knows both endpoints; kill -9 of the primary at a random
// moment; a forced failover to the secondary; writes go on there; the old
// primary restarts, learns the higher epoch, demotes itself and sets its
// unreplicated writes aside. In every trial each acknowledged write is in
// the new primary or in the old primary's divergence: none silently lost.
func TestForcedFailoverAfterKill(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 3
	}
	for i := 0; i < trials; i++ {
		t.Run(fmt.Sprint("trial", i), func(t *testing.T) { forcedFailoverTrial(t, i) })
	}
}

func forcedFailoverTrial(t *testing.T, trial int) {
	east, west := pairedRegions(t, StackSQLiteFile, nil)
	ctx := context.Background()
	// The admin token of eastus is a region admin token: it does not work
	// in westus. Writes use a workspace token, which replicates.
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(east.MustCLI(t, "token", "create", "--name", "writer", "--workspace", "soak", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 20*time.Second, "the token to reach westus", func() (bool, error) {
		_, err := httpapi.NewClient([]string{west.Endpoint}, tok.Token).FindWorkspace(ctx, "soak")
		return err == nil, err
	})

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := httpapi.NewClient([]string{east.Endpoint, west.Endpoint}, tok.Token)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := fmt.Sprintf("t%d/%05d.ipynb", trial, i)
			if _, err := c.UploadNotebook(ctx, "soak", p, strings.NewReader(p)); err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			mu.Lock()
			acked = append(acked, p)
			mu.Unlock()
		}
	}()
	time.Sleep(time.Duration(100+rand.IntN(500)) * time.Millisecond)
	east.Kill()
	west.MustCLI(t, "pair", "failover", "--workspace", "soak", "--force", "--yes")
	time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond) // writes land in westus now
	east.Restart(t)
	WaitFor(t, 30*time.Second, "the old primary to demote itself", func() (bool, error) {
		out, _, code := east.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
		var st tandem.PairStatus
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			return false, fmt.Errorf("pair status: exit %d", code)
		}
		return st.Role == tandem.RoleSecondary && st.Epoch == 2, fmt.Errorf("role %s epoch %d", st.Role, st.Epoch)
	})
	close(stop)
	<-done

	onWest := map[string]bool{}
	list, err := httpapi.NewClient([]string{west.Endpoint}, west.Token).ListNotebooks(ctx, "soak")
	if err != nil {
		t.Fatal(err)
	}
	for _, nb := range list {
		onWest[nb.Path] = true
	}
	setAside := map[string]bool{}
	divs, err := httpapi.NewClient([]string{east.Endpoint}, east.Token).ListDivergences(ctx, "soak")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range divs {
		for _, c := range d.Changes {
			setAside[c.Name] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range acked {
		if !onWest[p] && !setAside[p] {
			t.Fatalf("acknowledged write %s is neither in the new primary nor set aside (%d acknowledged, %d on westus, %d set aside)", p, len(acked), len(onWest), len(setAside))
		}
		if onWest[p] && setAside[p] {
			t.Fatalf("write %s is both in the new primary and set aside", p)
		}
	}
	t.Logf("%d acknowledged: %d in the new primary, %d set aside", len(acked), len(onWest), len(setAside))
}

// TestConfigJSONAcrossForcedFailover: a user with only config.json (both
// endpoints and a workspace token) keeps working after the primary is
// killed and an operator forces a failover: reads and writes go to the new
// primary without editing anything.
func TestConfigJSONAcrossForcedFailover(t *testing.T) {
	east, west := pairedRegions(t, StackSQLiteFile, nil)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(east.MustCLI(t, "token", "create", "--name", "alice", "--workspace", "soak", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "alice.token"), tok.Token)
	writeFile(t, filepath.Join(dir, "config.json"), fmt.Sprintf(`{"subscription_id": "x", "resource_group": "y", "workspace_name": "soak",
		"endpoints": [%q, %q], "token_file": "alice.token"}`, east.Endpoint, west.Endpoint))
	writeFile(t, filepath.Join(dir, "a.ipynb"), "a")
	bin := Build(t)
	user := func(args ...string) (string, string, int) { return RunCLI(t, bin, dir, nil, args...) }
	if _, stderr, code := user("notebook", "upload", "--path", "a.ipynb"); code != 0 {
		t.Fatalf("upload before failover: exit %d: %s", code, stderr)
	}
	WaitFor(t, 20*time.Second, "the token and notebook to reach westus", func() (bool, error) {
		list, err := httpapi.NewClient([]string{west.Endpoint}, tok.Token).ListNotebooks(context.Background(), "soak")
		return err == nil && len(list) == 1, err
	})

	east.Kill()
	west.MustCLI(t, "pair", "failover", "--workspace", "soak", "--force", "--yes")

	writeFile(t, filepath.Join(dir, "b.ipynb"), "b")
	_, stderr, code := user("notebook", "upload", "--path", "b.ipynb")
	if code != 0 {
		t.Fatalf("upload after forced failover with only config.json: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "cannot be reached") {
		t.Fatalf("stderr %q, want a note that the first endpoint was down", stderr)
	}
	out, stderr, code := user("notebook", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, "a.ipynb") || !strings.Contains(out, "b.ipynb") {
		t.Fatalf("list after forced failover: exit %d, %s %s", code, out, stderr)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
