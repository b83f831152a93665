package pipelines_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// BenchmarkPipelineChain runs a pipeline of a chain of N steps, each
// passing a one-file output to the next, from create to Completed. The
// time per step is Tandem's overhead per step (create, input resolution,
// fetch, run of a trivial bash command, output upload, records).
func BenchmarkPipelineChain(b *testing.B) {
	for _, backend := range sqltest.Backends() {
		b.Run(backend, func(b *testing.B) {
			store := sqltest.Open(b, backend)
			blobs, err := blobstore.Open(context.Background(), "file://"+b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer blobs.Close()
			r := apptest.New("eastus", store, blobs)
			r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			ctx := context.Background()
			if err := r.CreateWorkspace(ctx, &tandem.Workspace{Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			apptest.StartJobs(b, r)
			const n = 5
			jobs := map[string]any{"s0": apptest.Step("echo 0 > ${{outputs.o}}/n", map[string]any{"outputs": map[string]any{"o": nil}})}
			for i := 1; i < n; i++ {
				jobs[fmt.Sprintf("s%d", i)] = apptest.Step("cat ${{inputs.i}}/n > ${{outputs.o}}/n", map[string]any{
					"inputs":  map[string]any{"i": fmt.Sprintf("${{parent.jobs.s%d.outputs.o}}", i-1)},
					"outputs": map[string]any{"o": nil},
				})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := r.CreateJob(ctx, "bench", pipeline(jobs, nil))
				if err != nil {
					b.Fatal(err)
				}
				if p = apptest.WaitJob(b, r, "bench", p.Name, apptest.Done); p.Status != tandem.JobCompleted {
					b.Fatalf("ended %s: %s", p.Status, p.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n), "ms/step")
		})
	}
}
