package job

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
)

// jobView is what `job show` prints: the job record with its run's latest
// metrics, its params and its tags (those logged through the tracking
// API; the YAML's tags stay in "tags").
type jobView struct {
	*tandem.Job
	Metrics map[string]tandem.MetricValue `json:"metrics"`
	Params  map[string]string             `json:"params"`
	RunTags map[string]string             `json:"run_tags"`
}

// MarshalJSON flattens the job's fields and the run's into one object.
func (v jobView) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(v.Job)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["metrics"], m["params"], m["run_tags"] = v.Metrics, v.Params, v.RunTags
	return json.Marshal(m)
}

func newJobView(run *tandem.Run) jobView {
	v := jobView{Job: run.Job, Metrics: map[string]tandem.MetricValue{}, Params: map[string]string{}, RunTags: map[string]string{}}
	for _, m := range run.Data.Metrics {
		v.Metrics[m.Key] = m.Value
	}
	for _, p := range run.Data.Params {
		v.Params[p.Key] = p.Value
	}
	for _, t := range run.Data.Tags {
		v.RunTags[t.Key] = t.Value
	}
	return v
}

func formatMetric(v tandem.MetricValue) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// runDetails is the table form of jobView: the job's lines, then one line
// per metric (latest value and its step), param and run tag.
func runDetails(run *tandem.Run) cmdutil.Details {
	d := jobDetails(run.Job)
	for _, a := range run.Job.OutputAssets {
		d = append(d, [2]string{"Output " + a.Output, fmt.Sprintf("%s %s:%s", a.Kind, a.Name, a.Version)})
	}
	for _, m := range run.Data.Metrics {
		d = append(d, [2]string{"Metric " + m.Key, fmt.Sprintf("%s (step %d)", formatMetric(m.Value), m.Step)})
	}
	for _, p := range run.Data.Params {
		d = append(d, [2]string{"Param " + p.Key, p.Value})
	}
	for _, t := range run.Data.Tags {
		d = append(d, [2]string{"Tag " + t.Key, t.Value})
	}
	return d
}

func jobMetricsCommand(f *cmdutil.Factory) *cobra.Command {
	var name, metric string
	cmd := &cobra.Command{
		Use:   "metrics --name N [--metric M]",
		Short: "Print the history of a job's metrics (step, value, timestamp)",
		Long: "Print every point the job logged for one metric, or for all of them, ordered by timestamp\n" +
			"then step, as MLflow's metrics/get-history returns them.",
		Example: "  tandem job metrics --name calm_river_1a2b3c4d --metric loss\n" +
			"  tandem job metrics --name calm_river_1a2b3c4d -o json",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "job name")
	cmd.Flags().StringVar(&metric, "metric", "", "only this metric")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return tandem.Errorf(tandem.EInvalid, "required flag \"name\" not set")
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.MetricHistory(cmd.Context(), ws, name, metric)
		if err != nil {
			return err
		}
		if metric != "" && len(list) == 0 {
			// An unknown key is an empty history; say which keys exist.
			run, err := svc.GetRun(cmd.Context(), ws, name)
			if err != nil {
				return err
			}
			var keys []string
			for _, m := range run.Data.Metrics {
				keys = append(keys, m.Key)
			}
			return tandem.Errorf(tandem.ENotFound, "job %q has no metric %q (metrics: %s)", name, metric, cmdutil.OrDash(strings.Join(keys, ", "))).WithTarget(metric)
		}
		t := &cmdutil.Table{Header: []string{"METRIC", "STEP", "VALUE", "TIMESTAMP"}}
		for _, m := range list {
			t.Add(m.Key, strconv.FormatInt(m.Step, 10), formatMetric(m.Value), time.UnixMilli(m.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func jobDownloadCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		name, output, dir string
		all               bool
	)
	cmd := &cobra.Command{
		Use:   "download --name N [--all | --output-name O] [--download-path DIR]",
		Short: "Download a job's logs, outputs and code snapshot",
		Long: "Download a job's files as Azure's CLI lays them out: by default its logs (the default\n" +
			"artifacts) to DIR/artifacts/logs/...; --output-name O one named output to\n" +
			"DIR/named-outputs/O/...; --all the logs, every named output and the code snapshot\n" +
			"(DIR/code/...). Every file is verified against its sha256 before it is moved into place.",
		Example: "  tandem job download --name calm_river_1a2b3c4d --output-name model --download-path ./out",
		Args:    cobra.NoArgs,
	}
	flags := cmd.Flags()
	flags.StringVarP(&name, "name", "n", "", "job name")
	flags.StringVar(&output, "output-name", "", "download only this named output")
	flags.BoolVar(&all, "all", false, "download the logs, every named output and the code snapshot")
	flags.StringVarP(&dir, "download-path", "p", ".", "directory to download into")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return tandem.Errorf(tandem.EInvalid, "required flag \"name\" not set")
		}
		if all && output != "" {
			return tandem.Errorf(tandem.EInvalid, "give --all or --output-name, not both")
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		n, size, err := downloadJob(cmd.Context(), f, svc, ws, name, output, all, f.Path(dir))
		if err != nil {
			return err
		}
		f.Note("Downloaded %d files (%d bytes) of job %s to %s.", n, size, name, dir)
		return nil
	}
	return cmd
}

// jobFileTarget maps a stored job file (relative to runs/<job>/) to where
// a download puts it, relative to the download path, or "" to skip it.
func jobFileTarget(p, output string, all bool) string {
	switch {
	case strings.HasPrefix(p, "outputs/"):
		rest := strings.TrimPrefix(p, "outputs/")
		o, _, _ := strings.Cut(rest, "/")
		if all || (output != "" && o == output) {
			return "named-outputs/" + rest
		}
	case strings.HasPrefix(p, "logs/"):
		if output == "" {
			return "artifacts/" + p
		}
	case strings.HasPrefix(p, "code/"):
		if all {
			return p
		}
	}
	return ""
}

func downloadJob(ctx context.Context, f *cmdutil.Factory, svc *httpapi.Client, ws, name, output string, all bool, dir string) (int, int64, error) {
	job, err := svc.FindJob(ctx, ws, name)
	if err != nil {
		return 0, 0, err
	}
	if output != "" {
		outs, _ := job.Spec["outputs"].(map[string]any)
		if _, ok := outs[output]; !ok {
			var names []string
			for o := range outs {
				names = append(names, o)
			}
			return 0, 0, tandem.Errorf(tandem.ENotFound, "job %q has no output %q (outputs: %s)", name, output, cmdutil.OrDash(strings.Join(names, ", "))).WithTarget(output)
		}
	}
	files, err := svc.ListJobFiles(ctx, ws, name)
	if err != nil {
		return 0, 0, err
	}
	type item struct {
		file   tandem.JobFile
		target string
	}
	var todo []item
	var total int64
	for _, file := range files {
		t := jobFileTarget(file.Path, output, all)
		if t == "" {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(t)) {
			return 0, 0, tandem.Errorf(tandem.EInvalid, "the server listed an unsafe path %q", file.Path)
		}
		todo = append(todo, item{file, t})
		total += file.Size
	}
	if len(todo) == 0 && !tandem.JobDone(job.Status) {
		return 0, 0, tandem.Errorf(tandem.EConflict, "job %q is %s: its logs and outputs are stored when it ends", name, job.Status)
	}
	bar := f.Progress(total, "download job "+name)
	defer bar.Finish()
	for _, it := range todo {
		_, rc, err := svc.OpenJobFile(ctx, ws, name, it.file.Path)
		if err != nil {
			return 0, 0, err
		}
		err = cmdutil.WriteVerified(filepath.Join(dir, filepath.FromSlash(it.target)), rc, it.file.SHA256, it.file.Size, bar)
		rc.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("download %s: %w", it.file.Path, err)
		}
	}
	// Named outputs exist even when the job wrote nothing into them.
	outs, _ := job.Spec["outputs"].(map[string]any)
	for o := range outs {
		if (all || o == output) && tandem.JobDone(job.Status) {
			if err := os.MkdirAll(filepath.Join(dir, "named-outputs", o), 0o755); err != nil {
				return 0, 0, err
			}
		}
	}
	return len(todo), total, nil
}
