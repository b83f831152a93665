package tracking_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func putArtifact(t *testing.T, f *apptest.Fixture, path, body string) *tandem.ArtifactFile {
	t.Helper()
	a, err := f.PutArtifact(context.Background(), "mlw", path, int64(len(body)), strings.NewReader(body))
	if err != nil {
		t.Fatalf("PutArtifact(%s): %v", path, err)
	}
	return a
}

func readArtifact(f *apptest.Fixture, path string) (string, error) {
	_, rc, err := f.OpenArtifact(context.Background(), "mlw", path)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestArtifacts(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"})); err != nil {
			t.Fatal(err)
		}
		before := len(apptest.Changes(t, f.Region, ws.ID))
		a := putArtifact(t, f, "0/run1/artifacts/model/MLmodel", "flavors: {}\n")
		putArtifact(t, f, "0/run1/artifacts/model/model.pkl", "pickle")
		putArtifact(t, f, "0/run1/artifacts/notes.txt", "hello")
		if a.Path != "model/MLmodel" || a.Size != 12 || len(a.SHA256) != 64 {
			t.Fatalf("put returned %+v", a)
		}
		// One write, one change: each put updates the run's job once.
		changes := apptest.Changes(t, f.Region, ws.ID)
		if got := len(changes) - before; got != 3 {
			t.Fatalf("3 puts wrote %d change entries", got)
		}
		for _, c := range changes[before:] {
			if c.Kind != tandem.KindJob || c.Name != "run1" || c.Op != tandem.OpUpdate {
				t.Fatalf("unexpected change %+v", c)
			}
		}
		// The bytes are the job's outputs: stored in runs/run1/outputs/.
		files, err := f.ListJobFiles(ctx, "mlw", "run1")
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, jf := range files {
			paths = append(paths, jf.Path)
		}
		if got := strings.Join(paths, ","); !strings.Contains(got, "outputs/model/MLmodel") || !strings.Contains(got, "outputs/notes.txt") {
			t.Fatalf("job files %s lack the artifacts", got)
		}
		j, err := f.FindJob(ctx, "mlw", "run1")
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Outputs) != 3 || j.Outputs[0].Path != "model/MLmodel" {
			t.Fatalf("job outputs %+v", j.Outputs)
		}

		if got, err := readArtifact(f, "0/run1/artifacts/model/model.pkl"); err != nil || got != "pickle" {
			t.Fatalf("read = %q, %v", got, err)
		}
		list := func(dir string) string {
			t.Helper()
			l, err := f.ListArtifacts(ctx, "mlw", dir)
			if err != nil {
				t.Fatalf("list %s: %v", dir, err)
			}
			var s []string
			for _, e := range l {
				if e.IsDir {
					s = append(s, e.Path+"/")
				} else {
					s = append(s, e.Path)
				}
			}
			return strings.Join(s, ",")
		}
		for dir, want := range map[string]string{
			"0/run1":                  "artifacts/",
			"0/run1/artifacts":        "model/,notes.txt",
			"0/run1/artifacts/":       "model/,notes.txt",
			"0/run1/artifacts/model":  "MLmodel,model.pkl",
			"0/run1/artifacts/absent": "",
		} {
			if got := list(dir); got != want {
				t.Errorf("list %s = %q, want %q", dir, got, want)
			}
		}

		// Writing again replaces; the listing shows the new size.
		putArtifact(t, f, "0/run1/artifacts/notes.txt", "hello again")
		if got, err := readArtifact(f, "0/run1/artifacts/notes.txt"); err != nil || got != "hello again" {
			t.Fatalf("read after replace = %q, %v", got, err)
		}

		// Stored bytes that changed behind Tandem's back are reported.
		key := tandem.StoragePrefix(ws.ID) + "runs/run1/outputs/model/model.pkl"
		if _, err := f.Blobs.Put(ctx, key, strings.NewReader("tampered"), nil); err != nil {
			t.Fatal(err)
		}
		_, err = readArtifact(f, "0/run1/artifacts/model/model.pkl")
		apptest.WantCode(t, err, tandem.ECorrupt)

		// Delete a file, then a directory.
		if err := f.DeleteArtifact(ctx, "mlw", "0/run1/artifacts/notes.txt"); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteArtifact(ctx, "mlw", "0/run1/artifacts/model"); err != nil {
			t.Fatal(err)
		}
		if got := list("0/run1/artifacts"); got != "" {
			t.Fatalf("after deletes the root lists %q", got)
		}
		_, err = readArtifact(f, "0/run1/artifacts/notes.txt")
		apptest.WantCode(t, err, tandem.ENotFound)
		apptest.WantCode(t, f.DeleteArtifact(ctx, "mlw", "0/run1/artifacts/notes.txt"), tandem.ENotFound)
		if keys := apptest.BlobKeys(t, f.Region, tandem.StoragePrefix(ws.ID)+"runs/run1/outputs/"); len(keys) != 0 {
			t.Fatalf("deleted artifacts left blobs %v", keys)
		}
	})
}

func TestArtifactErrors(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"})); err != nil {
			t.Fatal(err)
		}
		put := func(path, body string, size int64) error {
			_, err := f.PutArtifact(ctx, "mlw", path, size, strings.NewReader(body))
			return err
		}
		for _, p := range []string{
			"/0/run1/artifacts/a", "0/run1/artifacts/../../run2/artifacts/a", "0/run1/artifacts/./a",
			"0/run1/artifacts", "0/run1/a", "0/run1/artifacts//a", "0/run1/artifacts/a\\b", "run1",
		} {
			apptest.WantCode(t, put(p, "x", 1), tandem.EInvalid)
		}
		// A job's token writes its own run's artifacts only.
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run2"})); err != nil {
			t.Fatal(err)
		}
		jobCtx := tandem.NewContextWithPrincipal(ctx, &tandem.Token{Name: tandem.JobTokenName(ws.ID, "run1"), WorkspaceID: ws.ID})
		if _, err := f.PutArtifact(jobCtx, "mlw", "0/run1/artifacts/own", 1, strings.NewReader("x")); err != nil {
			t.Fatalf("job token on its own run: %v", err)
		}
		_, err := f.PutArtifact(jobCtx, "mlw", "0/run2/artifacts/other", 1, strings.NewReader("x"))
		apptest.WantCode(t, err, tandem.EForbidden)
		_, err = f.ListArtifacts(jobCtx, "mlw", "0/run2/artifacts")
		apptest.WantCode(t, err, tandem.EForbidden)

		_, err = f.ListArtifacts(ctx, "mlw", "0/run1/../run2")
		apptest.WantCode(t, err, tandem.EInvalid)
		apptest.WantCode(t, put("0/nosuchrun/artifacts/a", "x", 1), tandem.ENotFound)
		apptest.WantCode(t, put("0/run1/artifacts/a", "x", 1), "")
		_, err = f.ListArtifacts(ctx, "nosuchws", "0/run1")
		apptest.WantCode(t, err, tandem.ENotFound)

		// The upload limit: a declared size is refused before reading, an
		// undeclared one once the limit is passed; nothing is stored.
		f.MaxUpload = 10
		apptest.WantCode(t, put("0/run1/artifacts/big", strings.Repeat("x", 11), 11), tandem.ETooLarge)
		apptest.WantCode(t, put("0/run1/artifacts/big", strings.Repeat("x", 11), -1), tandem.ETooLarge)
		apptest.WantCode(t, put("0/run1/artifacts/small", strings.Repeat("x", 10), -1), "")
		if keys := apptest.BlobKeys(t, f.Region, tandem.StoragePrefix(ws.ID)+"runs/run1/outputs/big"); len(keys) != 0 {
			t.Fatalf("a refused upload left %v", keys)
		}
	})
}

// TestArtifactsConcurrent uploads files of one run in parallel, as
// MLflow's client does for log_artifacts: every file is recorded.
func TestArtifactsConcurrent(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"})); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				body := strings.Repeat("x", i+1)
				_, err := f.PutArtifact(ctx, "mlw", "0/run1/artifacts/d/f"+string(rune('a'+i)), int64(len(body)), strings.NewReader(body))
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		l, err := f.ListArtifacts(ctx, "mlw", "0/run1/artifacts/d")
		if err != nil || len(l) != n {
			t.Fatalf("list after %d parallel puts: %+v, %v", n, l, err)
		}
		for i, e := range l {
			if e.Size != int64(i+1) {
				t.Fatalf("entry %d: %+v", i, e)
			}
		}
		if keys := apptest.BlobKeys(t, f.Region, tandem.StoragePrefix(ws.ID)+"runs/run1/outputs/d/"); len(keys) != n {
			t.Fatalf("blobs %v", keys)
		}
		// Parallel uploads of one path: the recorded ref is the stored bytes'.
		for i := range n {
			go func() {
				body := strings.Repeat(string(rune('a'+i)), 100+i)
				_, err := f.PutArtifact(ctx, "mlw", "0/run1/artifacts/same", int64(len(body)), strings.NewReader(body))
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		got, err := readArtifact(f, "0/run1/artifacts/same")
		if err != nil || len(got) < 100 || got != strings.Repeat(got[:1], len(got)) {
			t.Fatalf("after parallel uploads of one path: %q, %v", got, err)
		}
	})
}
