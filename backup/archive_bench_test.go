package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// BenchmarkImportSmallFiles exports a workspace of 500 notebooks of 1 KiB
// (SQLite, file storage) and imports it into a new workspace of another
// region, per operation; it reports resources imported per second.
func BenchmarkImportSmallFiles(b *testing.B) {
	ctx := context.Background()
	newRegion := func(name string) *apptest.Region {
		blobs, err := blobstore.Open(ctx, "file://"+b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { blobs.Close() })
		r := apptest.New(name, sqltest.Open(b, sqltest.SQLite), blobs)
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		return r
	}
	src := newRegion("eastus")
	if err := src.CreateWorkspace(ctx, &tandem.Workspace{Name: "many"}); err != nil {
		b.Fatal(err)
	}
	const n = 500
	for i := range n {
		if _, err := src.UploadNotebook(ctx, "many", fmt.Sprintf("nb/%04d.ipynb", i), strings.NewReader(strings.Repeat("x", 1024))); err != nil {
			b.Fatal(err)
		}
	}
	var archive bytes.Buffer
	if err := src.ExportWorkspace(ctx, "many", tandem.ExportOptions{}, &archive); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := newRegion("westus")
		rep, err := dst.ImportWorkspace(ctx, "many", tandem.ImportOptions{}, bytes.NewReader(archive.Bytes()))
		if err != nil || rep.Resources[tandem.ImportCreated] != n {
			b.Fatalf("import: %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "resources/s")
}
