package job

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/spec"
)

// NewCmdJob returns the job command group.
func NewCmdJob(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("job", "Command and pipeline jobs from Azure ML YAML, run on local compute or agent-served clusters")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(jobCreateCommand(f), jobListCommand(f), jobShowCommand(f), jobStreamCommand(f), jobCancelCommand(f),
		jobMetricsCommand(f), jobDownloadCommand(f))
	return cmd
}

func jobCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		file   string
		sets   []string
		stream bool
	)
	cmd := &cobra.Command{
		Use:   "create -f FILE [--set key=value ...] [--stream]",
		Short: "Submit a job from an Azure ML CLI v2 YAML file",
		Long: "Submit a command or pipeline job. Its code directories and local input paths (and those of\n" +
			"the components a pipeline's steps name by file) are uploaded with each file's sha256; data\n" +
			"assets, models, azureml://datastores/workspaceblobstore/paths/... and earlier jobs' outputs\n" +
			"(azureml://jobs/JOB/outputs/NAME) are resolved when the job is created. Jobs run on the\n" +
			"built-in \"local\" compute (a process on the server host). --set takes dotted paths as Azure's\n" +
			"CLI does, e.g. --set compute=local --set inputs.greeting=hi.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	flags := cmd.Flags()
	flags.StringVarP(&file, "file", "f", "", "Azure ML CLI v2 job YAML file")
	flags.StringArrayVar(&sets, "set", nil, "override a field, e.g. --set compute=local")
	flags.BoolVar(&stream, "stream", false, "print the job's log until it ends")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file == "" {
			return tandem.Errorf(tandem.EInvalid, "required flag \"file\" not set")
		}
		doc, err := spec.Load(f.Path(file), spec.Options{Kind: spec.KindJob, Set: sets})
		if err != nil {
			return err
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		areq, err := f.UploadAssetFiles(cmd.Context(), svc, ws, doc)
		if err != nil {
			return err
		}
		job, err := svc.CreateJob(cmd.Context(), ws, &tandem.JobRequest{Spec: areq.Spec, Paths: areq.Paths, Files: areq.Files})
		if err != nil {
			return err
		}
		if stream {
			f.Note("Job %s queued on %s compute; streaming its log.", job.Name, job.Compute)
			if job, err = streamJob(cmd.Context(), f, svc, ws, job.Name); err != nil {
				return err
			}
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, job, jobTable(job))
	}
	return cmd
}

func jobListCommand(f *cmdutil.Factory) *cobra.Command {
	var parent string
	cmd := &cobra.Command{Use: "list [--parent-job-name P]", Short: "List the workspace's jobs, newest first: pipelines and command jobs, or the steps of one pipeline", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&parent, "parent-job-name", "p", "", "list the steps (child jobs) of this pipeline job")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListJobs(cmd.Context(), ws)
		if err != nil {
			return err
		}
		list = filterJobs(list, parent)
		t := &cmdutil.Table{Header: []string{"NAME", "TYPE", "STATUS", "COMPUTE", "EXPERIMENT", "CREATED", "DISPLAY NAME"}}
		for _, j := range list {
			t.Add(j.Name, j.Type, j.Status, j.Compute, j.ExperimentName, cmdutil.FormatTime(j.CreatedAt), j.DisplayName)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func jobNameCommand(f *cmdutil.Factory, use, short string, run func(ctx context.Context, svc *httpapi.Client, ws, name string, out cmdutil.OutputFormat) error) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: use + " --name N", Short: short, Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "job name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return tandem.Errorf(tandem.EInvalid, "required flag \"name\" not set")
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		return run(cmd.Context(), svc, ws, name, *out)
	}
	return cmd
}

func jobShowCommand(f *cmdutil.Factory) *cobra.Command {
	return jobNameCommand(f, "show", "Show one job with its latest metrics, params and tags", func(ctx context.Context, svc *httpapi.Client, ws, name string, out cmdutil.OutputFormat) error {
		run, err := svc.GetRun(ctx, ws, name)
		if err != nil {
			return err
		}
		if out == cmdutil.FormatYAML {
			// The Azure ML document, ready for `job create -f` here or in
			// another workspace of the region.
			info, err := svc.Info(ctx)
			if err != nil {
				return err
			}
			doc, err := jobDocument(ctx, svc, info.Region, ws, run.Job)
			if err != nil {
				return err
			}
			data, err := cmdutil.DocumentYAML(spec.KindJob, run.Job.Type, doc)
			if err != nil {
				return err
			}
			_, err = f.Env.Stdout.Write(data)
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, out, newJobView(run), jobTableFrom(run.Job, runDetails(run)))
	})
}

func jobCancelCommand(f *cmdutil.Factory) *cobra.Command {
	return jobNameCommand(f, "cancel", "Cancel a queued or running job", func(ctx context.Context, svc *httpapi.Client, ws, name string, out cmdutil.OutputFormat) error {
		j, err := svc.CancelJob(ctx, ws, name)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, out, j, jobTable(j))
	})
}

func jobStreamCommand(f *cmdutil.Factory) *cobra.Command {
	return jobNameCommand(f, "stream", "Print a job's log as it runs, until it ends", func(ctx context.Context, svc *httpapi.Client, ws, name string, _ cmdutil.OutputFormat) error {
		_, err := streamJob(ctx, f, svc, ws, name)
		return err
	})
}

// streamJob polls the job's log, printing what is new, until the job ends;
// then it prints the rest of the stored log and the final status.
func streamJob(ctx context.Context, f *cmdutil.Factory, svc tandem.JobService, ws, name string) (*tandem.Job, error) {
	var printed int
	show := func() error {
		rc, err := svc.OpenJobLog(ctx, ws, name)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		if len(b) < printed {
			printed = 0 // the log was replaced
		}
		if len(b) > printed {
			if _, err := f.Env.Stdout.Write(b[printed:]); err != nil {
				return err
			}
			printed = len(b)
		}
		return nil
	}
	for {
		j, err := svc.FindJob(ctx, ws, name)
		if err != nil {
			return nil, err
		}
		if err := show(); err != nil {
			return nil, err
		}
		if tandem.JobDone(j.Status) {
			msg := ""
			if j.Error != "" {
				msg = ": " + j.Error
			}
			f.Note("Job %s %s%s.", j.Name, j.Status, msg)
			return j, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func jobDetails(j *tandem.Job) cmdutil.Details {
	exit := "-"
	if j.ExitCode != nil {
		exit = fmt.Sprint(*j.ExitCode)
	}
	synced := "-"
	if j.OutputsSyncedAt != nil {
		var bytes int64
		for _, file := range j.Outputs {
			bytes += file.Size
		}
		synced = fmt.Sprintf("%d files, %d bytes, at %s", len(j.Outputs), bytes, cmdutil.FormatTime(*j.OutputsSyncedAt))
	}
	return cmdutil.Details{
		{"Name", j.Name},
		{"Type", j.Type},
		{"Display name", j.DisplayName},
		{"Experiment", j.ExperimentName},
		{"Status", j.Status},
		{"Compute", j.Compute},
		{"Command", j.Command},
		{"Exit code", exit},
		{"Error", j.Error},
		{"Created", cmdutil.FormatTime(j.CreatedAt)},
		{"Started", cmdutil.FormatTimePtr(j.StartedAt)},
		{"Ended", cmdutil.FormatTimePtr(j.EndedAt)},
		{"Outputs uploaded", synced},
		{"Resubmitted from", j.ResubmittedFrom},
		{"Resubmitted as", j.ResubmittedAs},
	}
}
