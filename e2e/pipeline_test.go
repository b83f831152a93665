package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// TestPipelineReplicates runs a three-step pipeline in a primary and finds
// the pipeline, its graph and each step's child job, all Completed, in the
// secondary once the pair has converged: parent and children are
// resources whose every status change is a change entry.
func TestPipelineReplicates(t *testing.T) {
	for _, stack := range Stacks() {
		t.Run(stack, func(t *testing.T) {
			east, west := pairedRegions(t, stack, nil)
			file := filepath.Join(t.TempDir(), "pipeline.yml")
			err := os.WriteFile(file, []byte(`$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: abc
jobs:
  a:
    command: echo a > ${{outputs.o}}/a.txt
    environment: {image: python}
    outputs: {o: }
  b:
    command: cat ${{inputs.i}}/a.txt
    environment: {image: python}
    inputs: {i: "${{parent.jobs.a.outputs.o}}"}
  c:
    command: echo c
    environment: {image: python}
`), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			east.MustCLI(t, "job", "create", "-f", file, "--workspace", "soak")
			show := func(r *Region, name string) (tandem.Job, error) {
				var j tandem.Job
				out, stderr, code := r.CLI(t, "job", "show", "--name", name, "--workspace", "soak", "-o", "json")
				if code != 0 {
					return j, fmt.Errorf("job show %s in %s: exit %d: %s", name, r.Name, code, stderr)
				}
				return j, json.Unmarshal([]byte(out), &j)
			}
			WaitFor(t, 120*time.Second, "the pipeline to end", func() (bool, error) {
				j, err := show(east, "abc")
				return err == nil && tandem.JobDone(j.Status), err
			})
			waitConverged(t, east, west)
			p, err := show(west, "abc")
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tandem.JobCompleted || len(p.Steps) != 3 {
				t.Fatalf("secondary has the pipeline %s with %+v", p.Status, p.Steps)
			}
			for _, s := range p.Steps {
				c, err := show(west, s.Job)
				if err != nil {
					t.Fatal(err)
				}
				if s.Status != tandem.JobCompleted || c.Status != tandem.JobCompleted || c.Parent != "abc" {
					t.Fatalf("step %s: %s, child %s %s (parent %q)", s.Name, s.Status, c.Name, c.Status, c.Parent)
				}
			}
		})
	}
}
