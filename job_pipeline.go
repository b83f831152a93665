package tandem

// JobNotStarted is the status of a pipeline step that has not run: its
// upstream steps have not completed yet, or never will (one failed, or the
// pipeline was canceled). It is a step status, never a job's.
const JobNotStarted = "NotStarted"

// JobInput is a data or model input of a job, resolved when the job was
// created: the version of an asset named with @latest, the files of a
// folder, the outputs of an earlier job. It is delivered to the run as a
// read-only local copy whatever its mode (download, ro_mount).
type JobInput struct {
	Type string `json:"type"`           // uri_file, uri_folder, mltable, custom_model, mlflow_model, triton_model
	Mode string `json:"mode,omitempty"` // as written; both download and ro_mount give a read-only copy
	// Path is what the input resolved to: azureml:NAME:VERSION for an
	// asset, azureml://datastores/workspaceblobstore/paths/... for storage
	// (local paths uploaded with the job included), or
	// azureml://jobs/JOB/outputs/OUTPUT for an earlier job's output.
	Path string `json:"path"`
	// File: ${{inputs.x}} is the path of the single file; otherwise the
	// directory holding Files.
	File  bool        `json:"file,omitempty"`
	Files []InputFile `json:"files"`
}

// InputFile is one file of a job input.
type InputFile struct {
	Key    string `json:"key"`  // in the workspace's storage, relative to workspaces/<id>/
	Path   string `json:"path"` // relative to the input's local directory
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// JobStep is one step of a pipeline job: the child job running it once
// its upstream steps completed.
type JobStep struct {
	Name      string   `json:"name"`
	Job       string   `json:"job,omitempty"` // the child job, once created
	Status    string   `json:"status"`        // NotStarted, or the child's status
	DependsOn []string `json:"depends_on,omitempty"`
	Compute   string   `json:"compute,omitempty"` // as asked; steps run on local for now
	Error     string   `json:"error,omitempty"`   // why the step could not start
}
