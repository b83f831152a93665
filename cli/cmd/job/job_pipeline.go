package job

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// jobTableView is a job's details and, for a pipeline, its graph: one row per
// step with its status and child job.
type jobTableView struct {
	d     cmdutil.Details
	steps *cmdutil.Table
}

func (v jobTableView) WriteTable(w io.Writer) error {
	if err := v.d.WriteTable(w); err != nil {
		return err
	}
	if v.steps == nil {
		return nil
	}
	fmt.Fprintln(w)
	return v.steps.WriteTable(w)
}

// jobTable is the table form of one job.
func jobTable(j *tandem.Job) jobTableView { return jobTableFrom(j, jobDetails(j)) }

// jobTableFrom is jobTable with the job's detail lines given.
func jobTableFrom(j *tandem.Job, d cmdutil.Details) jobTableView {
	v := jobTableView{d: d}
	if j.Parent != "" {
		v.d = append(v.d, [2]string{"Parent", j.Parent})
	}
	if len(j.Inputs) > 0 {
		var in []string
		for name, x := range j.Inputs {
			in = append(in, name+"="+x.Path)
		}
		sort.Strings(in)
		v.d = append(v.d, [2]string{"Inputs", strings.Join(in, " ")})
	}
	if len(j.Steps) > 0 {
		t := &cmdutil.Table{Header: []string{"STEP", "STATUS", "JOB", "DEPENDS ON", "COMPUTE", "ERROR"}}
		for _, s := range j.Steps {
			t.Add(s.Name, s.Status, s.Job, strings.Join(s.DependsOn, ","), s.Compute, s.Error)
		}
		v.steps = t
	}
	return v
}

// filterJobs keeps the top-level jobs (pipelines and command jobs), or,
// with parent, the steps of that pipeline, as Azure's `az ml job list
// --parent-job-name` does.
func filterJobs(list []*tandem.Job, parent string) []*tandem.Job {
	var out []*tandem.Job
	for _, j := range list {
		if j.Parent == parent {
			out = append(out, j)
		}
	}
	return out
}
