package apptest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/vault"
)

// StartJobs starts the region's job workers until the test ends.
func StartJobs(t testing.TB, r *Region) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.StartJobs(ctx, &wg)
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// CommandJob is the request of a command job running command on local
// compute, with more fields added to its document.
func CommandJob(command string, more map[string]any) *tandem.JobRequest {
	s := map[string]any{"type": "command", "command": command, "environment": map[string]any{"image": "library/python:latest"}}
	for k, v := range more {
		s[k] = v
	}
	return &tandem.JobRequest{Spec: s}
}

// WaitJob polls a job until want accepts it, failing the test after a
// generous deadline.
func WaitJob(t testing.TB, r *Region, ws, name string, want func(*tandem.Job) bool) *tandem.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := r.FindJob(context.Background(), ws, name)
		if err != nil {
			t.Fatalf("FindJob: %v", err)
		}
		if want(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s stuck in %s (%s)", name, j.Status, j.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// JobLog returns a job's log.
func JobLog(t *testing.T, r *Region, ws, name string) string {
	t.Helper()
	rc, err := r.OpenJobLog(context.Background(), ws, name)
	if err != nil {
		t.Fatalf("OpenJobLog: %v", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// Stage stages body in the workspace and returns its file entry.
func Stage(t *testing.T, r *Region, ws, field, path, body string) tandem.AssetFile {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	f := tandem.AssetFile{Field: field, Path: path, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
	if _, err := r.StageBlob(context.Background(), ws, tandem.BlobRef{SHA256: f.SHA256, Size: f.Size}, strings.NewReader(body)); err != nil {
		t.Fatalf("StageBlob: %v", err)
	}
	return f
}

// ModelRequest stages body as a model's file and returns the request that
// creates its version.
func ModelRequest(t *testing.T, r *Region, ws, version, body string) *tandem.AssetRequest {
	spec := map[string]any{"name": "clf", "type": "custom_model", "path": "model.pkl", "description": "classifier"}
	if version != "" {
		spec["version"] = version
	}
	return &tandem.AssetRequest{
		Kind:  tandem.KindModel,
		Spec:  spec,
		Paths: []tandem.AssetPath{{Field: "path", Root: "model.pkl"}},
		Files: []tandem.AssetFile{Stage(t, r, ws, "path", "model.pkl", body)},
	}
}

// WithVault gives the fixture's region a vault on a new key file and
// returns the key file's path.
func WithVault(t *testing.T, f *Fixture) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vault.key")
	kf, err := vault.OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Vault = kf
	return path
}

// Env is the inline environment of the test jobs and steps.
func Env() map[string]any { return map[string]any{"image": "library/python:latest"} }

// Step is a command step of a pipeline document.
func Step(command string, more map[string]any) map[string]any {
	s := map[string]any{"type": "command", "command": command, "environment": Env()}
	for k, v := range more {
		s[k] = v
	}
	return s
}

// Done reports whether a job's status is final.
func Done(j *tandem.Job) bool { return tandem.JobDone(j.Status) }
