package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmd/archive"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// writeArchiveFiles creates files under dir: path → content.
func writeArchiveFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2EArchive fills a workspace on SQLite + files with every kind of
// asset, a finished job with outputs, a notebook, a datastore and secrets,
// exports it, imports it into a workspace of another region (PostgreSQL +
// Azurite when scripts/with-postgres and scripts/with-azurite run the
// tests), compares content digests, imports again (nothing new), and
// refuses a corrupted archive.
func TestE2EArchive(t *testing.T) {
	_, srcEP, srcTok := startServer(t, "--region", "eastus")
	var dstFlags []string
	for name, flags := range stacks(t) {
		if name != "sqlite+file" {
			dstFlags = flags
		}
	}
	t.Logf("import target flags: %v (empty: SQLite + files)", dstFlags)
	_, dstEP, dstTok := startServer(t, append([]string{"--region", "westus"}, dstFlags...)...)
	dir := t.TempDir()
	src := map[string]string{cmdutil.EnvEndpoint: srcEP, cmdutil.EnvToken: srcTok, cmdutil.EnvWorkspace: "mlw-src"}
	dst := map[string]string{cmdutil.EnvEndpoint: dstEP, cmdutil.EnvToken: dstTok}

	writeArchiveFiles(t, dir, map[string]string{
		"model.yml":      "name: clf\npath: model.pkl\ntype: custom_model\ndescription: a classifier\ntags:\n  team: vision\n",
		"model.pkl":      "weights",
		"env.yml":        "name: py\nimage: library/python:3.11\nconda_file: conda.yml\n",
		"conda.yml":      "dependencies:\n  - python=3.11\n",
		"data.yml":       "name: iris\ntype: uri_folder\npath: iris\n",
		"iris/a.csv":     "1,2\n",
		"iris/sub/b.csv": "3,4\n",
		"component.yml":  "name: train\ntype: command\ncode: src\ncommand: bash main.sh\nenvironment: azureml:py:1\n",
		"src/main.sh":    "echo trained > \"$1\"/model.txt\n",
		"job.yml": "command: bash main.sh ${{outputs.result}} && echo done\ncode: src\nenvironment:\n  image: library/python:3.11\n" +
			"outputs:\n  result:\n    type: custom_model\n    name: trained\ncompute: local\nexperiment_name: archive\n",
		// A pipeline whose first step logs a metric the way MLflow's client
		// does and hands its output to the second.
		"pipeline.yml": "type: pipeline\nsettings:\n  default_compute: azureml:local\njobs:\n  train:\n    command: python3 track.py && echo weights > ${{outputs.model}}/m.txt\n" +
			"    code: src\n    environment: azureml:py:1\n    outputs:\n      model:\n  check:\n    command: cat ${{inputs.m}}/m.txt\n    environment: azureml:py:1\n" +
			"    inputs:\n      m: ${{parent.jobs.train.outputs.model}}\n",
		"src/track.py": "import json, os, urllib.request\n" +
			"body = json.dumps({'run_id': os.environ['MLFLOW_RUN_ID'], 'key': 'acc', 'value': 0.93, 'timestamp': 1, 'step': 1}).encode()\n" +
			"req = urllib.request.Request(os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/runs/log-metric', data=body, method='POST', " +
			"headers={'Authorization': 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN'], 'Content-Type': 'application/json'})\n" +
			"urllib.request.urlopen(req).read()\n",
		"datastore.yml": "name: blobs\ntype: azure_blob\naccount_name: acct\ncontainer_name: c\ncredentials:\n  account_key: c2VjcmV0LWtleQ==\n",
		"nb.ipynb":      `{"cells": []}`,
		"pass.txt":      "correct horse battery staple\n",
	})
	mustRun(t, dir, src, "workspace", "create", "--name", "mlw-src", "--description", "source", "--tags", "team=vision")
	for _, c := range [][]string{
		{"model", "create", "-f", "model.yml"},
		{"environment", "create", "-f", "env.yml"},
		{"data", "create", "-f", "data.yml"},
		{"component", "create", "-f", "component.yml"},
		{"datastore", "create", "-f", "datastore.yml"},
		{"notebook", "upload", "--path", "nb.ipynb", "--dest", "lessons/nb.ipynb"},
		{"secret", "set", "--name", "api-key", "--value", "v4lue-1"},
	} {
		mustRun(t, dir, src, c...)
	}
	job := decode[tandem.Job](t, mustRun(t, dir, src, "job", "create", "-f", "job.yml", "-o", "json"))
	deadline := time.Now().Add(60 * time.Second)
	for !tandem.JobDone(job.Status) {
		if time.Now().After(deadline) {
			t.Fatalf("job stuck in %s", job.Status)
		}
		time.Sleep(200 * time.Millisecond)
		job = decode[tandem.Job](t, mustRun(t, dir, src, "job", "show", "--name", job.Name, "-o", "json"))
	}
	if job.Status != tandem.JobCompleted {
		t.Fatalf("job %s: %s", job.Status, job.Error)
	}
	pipe := decode[tandem.Job](t, mustRun(t, dir, src, "job", "create", "-f", "pipeline.yml", "-o", "json"))
	for !tandem.JobDone(pipe.Status) {
		if time.Now().After(deadline) {
			t.Fatalf("pipeline stuck in %s", pipe.Status)
		}
		time.Sleep(200 * time.Millisecond)
		pipe = decode[tandem.Job](t, mustRun(t, dir, src, "job", "show", "--name", pipe.Name, "-o", "json"))
	}
	if pipe.Status != tandem.JobCompleted || len(pipe.Steps) != 2 {
		t.Fatalf("pipeline %s with %d steps: %s", pipe.Status, len(pipe.Steps), pipe.Error)
	}

	// Export everything, secrets encrypted.
	wantExit(t, dir, src, 2, "passphrase", "workspace", "export", "--output", "w.tar", "--include", "all")
	exp := decode[archive.ExportResult](t, mustRun(t, dir, src, "workspace", "export", "--output", "w.tar", "--include", "all", "--passphrase-file", "pass.txt", "-O", "json"))
	tarBytes, err := os.ReadFile(filepath.Join(dir, "w.tar"))
	if err != nil || int64(len(tarBytes)) != exp.Bytes {
		t.Fatalf("archive file: %d bytes, %v; export said %d", len(tarBytes), err, exp.Bytes)
	}
	if strings.Contains(string(tarBytes), "v4lue-1") || strings.Contains(string(tarBytes), "c2VjcmV0LWtleQ==") {
		t.Fatal("a secret is in the archive in clear")
	}
	for _, want := range []string{"yaml/model/clf/1.yml", "blobs/runs/" + job.Name + "/outputs/result/model.txt", "blobs/runs/" + job.Name + "/logs/std_log.txt", "blobs/notebooks/lessons/nb.ipynb"} {
		if !strings.Contains(string(tarBytes), want) {
			t.Fatalf("the archive has no %s", want)
		}
	}

	// Import into the other region, under another name.
	wantExit(t, dir, dst, 2, `is region "westus", not "eastus"`, "workspace", "import", "--file", "w.tar", "--name", "mlw-dst", "--region", "eastus", "--passphrase-file", "pass.txt")
	rep := decode[tandem.ImportReport](t, mustRun(t, dir, dst, "workspace", "import", "--file", "w.tar", "--name", "mlw-dst", "--region", "westus", "--passphrase-file", "pass.txt", "-o", "json"))
	if !rep.WorkspaceCreated || rep.SourceRegion != "eastus" || rep.Resources[tandem.ImportCreated] < 9 || len(rep.Conflicts) != 0 {
		t.Fatalf("import report %+v", rep)
	}
	dst[cmdutil.EnvWorkspace] = "mlw-dst"
	digest := func(env map[string]string) string {
		d := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--content", "--verify-blobs", "-o", "json"))
		return d.Digest
	}
	if a, b := digest(src), digest(dst); a != b {
		t.Fatalf("content digests differ: source %s, import %s", a, b)
	}
	// Lineage and records: the job with its outputs, the secret readable.
	j := decode[tandem.Job](t, mustRun(t, dir, dst, "job", "show", "--name", job.Name, "-o", "json"))
	if j.Status != tandem.JobCompleted || !j.CreatedAt.Equal(job.CreatedAt) {
		t.Fatalf("imported job %+v", j)
	}
	if out := mustRun(t, dir, dst, "job", "stream", "--name", job.Name); !strings.Contains(out.stdout, "done") {
		t.Fatalf("imported job log %q", out.stdout)
	}
	if m := decode[tandem.Asset](t, mustRun(t, dir, dst, "model", "show", "--name", "trained", "--version", "1", "-o", "json")); m.JobName != job.Name {
		t.Fatalf("imported model trained:1 names job %q, want %q (lineage)", m.JobName, job.Name)
	}
	p := decode[tandem.Job](t, mustRun(t, dir, dst, "job", "show", "--name", pipe.Name, "-o", "json"))
	if p.Status != tandem.JobCompleted || len(p.Steps) != 2 || p.Steps[0].Status != tandem.JobCompleted || p.Steps[1].Status != tandem.JobCompleted {
		t.Fatalf("imported pipeline %s, steps %+v", p.Status, p.Steps)
	}
	steps := map[string]string{}
	for _, s := range p.Steps {
		steps[s.Name] = s.Job
	}
	if m := mustRun(t, dir, dst, "job", "metrics", "--name", steps["train"], "-o", "json"); !strings.Contains(m.stdout, `"acc"`) || !strings.Contains(m.stdout, "0.93") {
		t.Fatalf("imported step's metrics: %s", m.stdout)
	}
	if out := mustRun(t, dir, dst, "job", "stream", "--name", steps["check"]); !strings.Contains(out.stdout, "weights") {
		t.Fatalf("imported step log %q", out.stdout)
	}
	if out := mustRun(t, dir, dst, "secret", "get", "--name", "api-key"); !strings.Contains(out.stdout, "v4lue-1") {
		t.Fatalf("imported secret %q", out.stdout)
	}

	// Again: nothing new.
	rep = decode[tandem.ImportReport](t, mustRun(t, dir, dst, "workspace", "import", "--file", "w.tar", "--passphrase-file", "pass.txt", "-o", "json"))
	if rep.Resources[tandem.ImportCreated] != 0 || rep.Resources[tandem.ImportUnchanged] < 9 || rep.BlobsCopied != 0 {
		t.Fatalf("second import %+v", rep)
	}

	// A corrupted archive is refused before anything is written.
	bad := []byte(strings.Replace(string(tarBytes), "weights", "weighTs", 1))
	os.WriteFile(filepath.Join(dir, "bad.tar"), bad, 0o644)
	wantExit(t, dir, dst, 8, "archive", "workspace", "import", "--file", "bad.tar", "--name", "mlw-bad", "--passphrase-file", "pass.txt")
	wantExit(t, dir, dst, 3, "not found", "workspace", "show", "--name", "mlw-bad")

	// Secrets to a recipient key instead of a passphrase.
	rcpt := strings.TrimSpace(mustRun(t, dir, src, "workspace", "archive-key", "--output", "dr.key").stdout)
	wantExit(t, dir, src, 2, "create identity file", "workspace", "archive-key", "--output", "dr.key")
	mustRun(t, dir, src, "workspace", "export", "--output", "k.tar", "--include", "secrets", "--recipient", rcpt)
	wantExit(t, dir, dst, 2, "--identity-file", "workspace", "import", "--file", "k.tar", "--name", "mlw-keys")
	mustRun(t, dir, dst, "workspace", "import", "--file", "k.tar", "--name", "mlw-keys", "--identity-file", "dr.key")
	keys := map[string]string{cmdutil.EnvEndpoint: dstEP, cmdutil.EnvToken: dstTok, cmdutil.EnvWorkspace: "mlw-keys"}
	if out := mustRun(t, dir, keys, "secret", "get", "--name", "api-key"); out.stdout != "v4lue-1" {
		t.Fatalf("secret imported with the identity: %q", out.stdout)
	}

	// A conflicting version is listed, and the command exits 4.
	mustRun(t, dir, dst, "workspace", "create", "--name", "mlw-other")
	writeArchiveFiles(t, dir, map[string]string{"other/model.yml": "name: clf\nversion: \"1\"\npath: model.pkl\ntype: custom_model\n", "other/model.pkl": "other weights"})
	other := map[string]string{cmdutil.EnvEndpoint: dstEP, cmdutil.EnvToken: dstTok, cmdutil.EnvWorkspace: "mlw-other"}
	mustRun(t, dir, other, "model", "create", "-f", "other/model.yml")
	r := runCLI(t, dir, other, "", "workspace", "import", "--file", "w.tar", "--passphrase-file", "pass.txt")
	if r.code != 4 || !strings.Contains(r.stdout, "clf") || !strings.Contains(r.stderr, "1 resource(s) not written") {
		t.Fatalf("conflicting import: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestE2ERestore_Stacks loses the database of a server on each backend
// stack (a fresh PostgreSQL database, the same Azure container) and
// restores the workspace from its storage: same digest.
func TestE2ERestore_Stacks(t *testing.T) {
	for name, flags := range stacks(t) {
		if name == "sqlite+file" {
			continue // TestE2ERestore deletes the SQLite file itself
		}
		t.Run(name, func(t *testing.T) {
			srv, ep, tok := startServer(t, flags...)
			dir := t.TempDir()
			env := map[string]string{cmdutil.EnvEndpoint: ep, cmdutil.EnvToken: tok, cmdutil.EnvWorkspace: "mlw"}
			writeArchiveFiles(t, dir, map[string]string{"model.yml": "name: clf\npath: model.pkl\ntype: custom_model\n", "model.pkl": "weights"})
			ws := decode[tandem.Workspace](t, mustRun(t, dir, env, "workspace", "create", "--name", "mlw", "-o", "json"))
			mustRun(t, dir, env, "model", "create", "-f", "model.yml")
			before := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "-o", "json"))
			mustRun(t, dir, env, "workspace", "snapshot")
			srv.stop(t)

			// The same storage, a new empty database.
			fresh := append([]string(nil), flags...)
			for i := range fresh {
				if fresh[i] == "--db" {
					fresh[i+1] = sqltest.DSN(t, sqltest.Postgres)
				}
			}
			_, ep, tok = startServer(t, fresh...)
			env[cmdutil.EnvEndpoint], env[cmdutil.EnvToken] = ep, tok
			wantExit(t, dir, env, 3, "not found", "workspace", "show")
			rep := decode[tandem.RestoreReport](t, mustRun(t, dir, env, "workspace", "restore", "--workspace-id", ws.ID, "-o", "json"))
			if rep.ID != ws.ID || rep.Resources[tandem.ImportCreated] != 1 {
				t.Fatalf("restore report %+v", rep)
			}
			after := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--verify-blobs", "-o", "json"))
			if after.Digest != before.Digest {
				t.Fatalf("digest after restore %s, before %s", after.Digest, before.Digest)
			}
		})
	}
}

// TestE2ERestore deletes a server's database file and gets the workspace
// back from the snapshot in its storage: same digest, same token.
func TestE2ERestore(t *testing.T) {
	data := t.TempDir()
	srv := start(t, data, "server", "--listen", "127.0.0.1:0", "--data", "data")
	out := srv.waitFor(t, "admin token: ")
	ep := listeningRE.FindStringSubmatch(out)[1]
	tok, err := os.ReadFile(filepath.Join(data, "data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: ep, cmdutil.EnvToken: strings.TrimSpace(string(tok)), cmdutil.EnvWorkspace: "mlw"}
	writeArchiveFiles(t, dir, map[string]string{"model.yml": "name: clf\npath: model.pkl\ntype: custom_model\n", "model.pkl": "weights", "nb.ipynb": "{}"})
	ws := decode[tandem.Workspace](t, mustRun(t, dir, env, "workspace", "create", "--name", "mlw", "-o", "json"))
	mustRun(t, dir, env, "model", "create", "-f", "model.yml")
	mustRun(t, dir, env, "notebook", "upload", "--path", "nb.ipynb")
	mustRun(t, dir, env, "secret", "set", "--name", "k", "--value", "v")
	before := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "-o", "json"))
	snap := decode[tandem.SnapshotInfo](t, mustRun(t, dir, env, "workspace", "snapshot", "-o", "json"))
	if snap.WorkspaceID != ws.ID {
		t.Fatalf("snapshot %+v", snap)
	}
	// A write after the snapshot: its bytes reach storage, its record is lost with the database.
	writeArchiveFiles(t, dir, map[string]string{"late.ipynb": "{}"})
	mustRun(t, dir, env, "notebook", "upload", "--path", "late.ipynb")

	if code := srv.stop(t); code != 0 {
		t.Fatalf("server exited %d", code)
	}
	for _, f := range []string{"tandem.db", "tandem.db-wal", "tandem.db-shm"} {
		os.Remove(filepath.Join(data, "data", f))
	}
	srv = start(t, data, "server", "--listen", "127.0.0.1:0", "--data", "data")
	out = srv.waitFor(t, "admin token: ")
	env[cmdutil.EnvEndpoint] = listeningRE.FindStringSubmatch(out)[1]
	wantExit(t, dir, env, 3, "not found", "workspace", "show")

	r := runCLI(t, dir, env, "", "workspace", "restore", "--workspace-id", ws.ID, "-o", "json")
	if r.code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := decode[tandem.RestoreReport](t, r)
	if rep.ID != ws.ID || rep.Workspace != "mlw" || rep.Snapshot != snap.Name || rep.UnattachedCount != 1 || !strings.HasSuffix(rep.Unattached[0].Key, "notebooks/late.ipynb") {
		t.Fatalf("restore report %+v", rep)
	}
	if !strings.Contains(r.stderr, "not attached") {
		t.Fatalf("restore did not tell about the unattached blob: %q", r.stderr)
	}
	// The late blob is in storage but not in the snapshot: remove it to
	// compare the digest of the snapshot's content.
	os.Remove(filepath.Join(data, "data", "storage", "workspaces", ws.ID, "notebooks", "late.ipynb"))
	after := decode[tandem.WorkspaceDigest](t, mustRun(t, dir, env, "workspace", "digest", "--verify-blobs", "-o", "json"))
	if after.Digest != before.Digest {
		t.Fatalf("digest after restore %s, before %s", after.Digest, before.Digest)
	}
	if out := mustRun(t, dir, env, "secret", "get", "--name", "k"); !strings.Contains(out.stdout, "v") {
		t.Fatalf("secret after restore %q", out.stdout)
	}
}
