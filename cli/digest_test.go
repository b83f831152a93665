package cli

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

func TestE2EDigest(t *testing.T) {
	for name, flags := range stacks(t) {
		t.Run(name, func(t *testing.T) { testE2EDigest(t, flags) })
	}
}

func testE2EDigest(t *testing.T, flags []string) {
	srv, endpoint, token := startServer(t, flags...)
	m := dataDirRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no data directory in %q", srv.stdout)
	}
	storage := "file://" + filepath.Join(m[1], "storage")
	if i := slices.Index(flags, "--storage"); i >= 0 {
		storage = flags[i+1]
	}
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
	wsEnv := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-digest"}
	dir := t.TempDir()
	ws := decode[tandem.Workspace](t, mustRun(t, dir, env, "workspace", "create", "--name", "mlw-digest", "--tags", "team=vision", "-o", "json"))
	cmdtest.WriteFiles(t, dir, map[string]string{"train.ipynb": `{"cells": []}`, "exp/a.py": "print(1)\n"})
	mustRun(t, dir, wsEnv, "notebook", "upload", "--path", "train.ipynb")
	mustRun(t, dir, wsEnv, "notebook", "upload", "--path", "exp", "--dest", "exp")

	// -o json: the documented fields, counts per kind, what is excluded.
	r := mustRun(t, dir, env, "workspace", "digest", "--name", "mlw-digest", "-o", "json")
	raw := decode[map[string]any](t, r)
	for _, k := range []string{"workspace", "id", "digest", "counts", "excluded", "computed_at", "verified_blobs", "format", "bytes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("digest -o json has no %q: %s", k, r.stdout)
		}
	}
	d := decode[tandem.WorkspaceDigest](t, r)
	if !strings.HasPrefix(d.Digest, "sha256:") || len(d.Digest) != 71 || d.Workspace != "mlw-digest" || d.ID != ws.ID || d.VerifiedBlobs || d.ComputedAt.IsZero() {
		t.Fatalf("got %+v", d)
	}
	if want := map[string]int64{"notebook": 2, "token": 0, "blob": 2}; !maps.Equal(d.Counts, want) {
		t.Fatalf("got counts %v, want %v", d.Counts, want)
	}
	if !slices.ContainsFunc(d.Excluded, func(e string) bool { return strings.Contains(e, ws.Resources.Storage+"staging/") }) {
		t.Fatalf("excluded %q does not name the staging area", d.Excluded)
	}

	// The same answer again, from the configured workspace, in a table, and
	// when every blob is read again.
	if again := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, wsEnv, "workspace", "digest", "-o", "json")); again.Digest != d.Digest {
		t.Fatalf("second digest %s, first %s", again.Digest, d.Digest)
	}
	table := mustRun(t, dir, env, "workspace", "digest", "--name", "mlw-digest").stdout
	for _, want := range []string{"Digest:", d.Digest, "KIND", "notebook", "blob", "Not covered", "workspace region"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table output lacks %q:\n%s", want, table)
		}
	}
	v := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--name", "mlw-digest", "--verify-blobs", "-o", "json"))
	if v.Digest != d.Digest || !v.VerifiedBlobs {
		t.Fatalf("--verify-blobs: got %s (verified %v), want %s", v.Digest, v.VerifiedBlobs, d.Digest)
	}

	// A workspace token may digest its own workspace, and only that.
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw-other")
	tok := decode[map[string]string](t, mustRun(t, dir, env, "token", "create", "--name", "digest-ci", "--workspace", "mlw-digest", "-o", "json"))
	scoped := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: tok["token"]}
	withToken := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, scoped, "workspace", "digest", "--name", "mlw-digest", "-o", "json"))
	if withToken.Digest == d.Digest || withToken.Counts["token"] != 1 {
		t.Fatalf("after a token was created: %s %v; want another digest counting one token", withToken.Digest, withToken.Counts)
	}
	wantExit(t, dir, scoped, 3, `"mlw-other" not found`, "workspace", "digest", "--name", "mlw-other")
	wantExit(t, dir, env, 3, `"nope-ws" not found`, "workspace", "digest", "--name", "nope-ws")

	// Changing a tag changes the digest.
	mustRun(t, dir, env, "workspace", "update", "--name", "mlw-digest", "--tags", "team=nlp")
	tagged := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--name", "mlw-digest", "-o", "json"))
	if tagged.Digest == withToken.Digest {
		t.Fatal("digest unchanged after a tag changed")
	}

	// Bytes damaged at rest: the digest (recorded sha256s) stays, and
	// --verify-blobs names the blob and exits with Corrupt's status.
	store, err := blobstore.Open(context.Background(), storage)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key := ws.Resources.Storage + "notebooks/exp/a.py"
	blobtest.Corrupt(t, store, key, []byte("print(2)\n"))
	if d := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--name", "mlw-digest", "-o", "json")); d.Digest != tagged.Digest {
		t.Fatalf("digest without --verify-blobs changed to %s: it must not read the bytes", d.Digest)
	}
	wantExit(t, dir, env, 8, key+": bytes do not match", "workspace", "digest", "--name", "mlw-digest", "--verify-blobs")

	if code := srv.stop(t); code != 0 {
		t.Fatalf("server exited with %d after interrupt, want 0; stderr: %s", code, srv.stderr)
	}
}
