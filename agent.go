package tandem

import (
	"context"
	"io"
	"time"
)

// Agent states.
const (
	AgentIdle = "Idle" // polling for work
	AgentBusy = "Busy" // running a job
	AgentLost = "Lost" // silent for longer than the region's agent timeout
)

// Agent is a `tandem agent` process serving a cluster (an amlcompute
// compute). Agents are region-local and live in the server's memory: they
// announce themselves with every claim and heartbeat, so a restarted
// server learns them again within one heartbeat.
type Agent struct {
	ID            string    `json:"id"`
	Compute       string    `json:"compute"`
	Host          string    `json:"host,omitempty"`
	State         string    `json:"state"`
	Job           string    `json:"job,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// AgentFile is a file an agent fetches before it runs a job: Path is where
// it goes, relative to the run's root directory ("code/train.py").
type AgentFile struct {
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// AgentWork is a job handed to an agent: everything it needs to run the
// command the way the server's local compute would.
type AgentWork struct {
	Job     *Job              `json:"job"`
	Command string            `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Outputs []string          `json:"outputs,omitempty"`
	// TimeoutSeconds is limits.timeout; 0: none.
	TimeoutSeconds float64     `json:"timeout_seconds,omitempty"`
	Files          []AgentFile `json:"files,omitempty"`
	// Inputs are the job's data and model inputs: the agent fetches each
	// file with OpenAgentInput and delivers them read-only.
	Inputs map[string]*JobInput `json:"inputs,omitempty"`
	Notes  []string             `json:"notes,omitempty"` // lines for the top of the log
	// Image is the environment's image, Environment how the environment
	// is written: the agent runs the job in the image when a container
	// runtime works on its host.
	Image       string `json:"image,omitempty"`
	Environment string `json:"environment,omitempty"`
	// SyncSeconds is how often the agent uploads the outputs while the job
	// runs and records them with SyncAgentOutputs (0: only at the end), so
	// that a resubmission after a failover resumes from them.
	SyncSeconds float64 `json:"sync_seconds,omitempty"`
	// Seed lists the output files of the job this one resubmits: the agent
	// fetches each with OpenAgentSeed into the output's directory before
	// the command runs.
	Seed    []AgentOutput `json:"seed,omitempty"`
	Attempt int           `json:"attempt"`
}

// AgentHeartbeat is an agent's periodic report; the answer tells it
// whether to stop its job.
type AgentHeartbeat struct {
	Host string `json:"host,omitempty"`
	Job  string `json:"job,omitempty"` // the job it runs, if any
}

// HeartbeatAnswer tells an agent what the region knows of its job.
type HeartbeatAnswer struct {
	// Stop is set when the job no longer belongs to the agent: canceled,
	// requeued after the agent was taken for lost, or ended.
	Stop   bool   `json:"stop,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// AgentResult is how a job ended on an agent.
type AgentResult struct {
	ExitCode int    `json:"exit_code"` // -1 when the command did not exit by itself
	TimedOut bool   `json:"timed_out,omitempty"`
	Canceled bool   `json:"canceled,omitempty"` // stopped on the region's word
	Error    string `json:"error,omitempty"`    // a failure to prepare or start the command
	// Outputs lists the files the agent uploaded with PutAgentOutput.
	Outputs []AgentOutput `json:"outputs,omitempty"`
}

// AgentOutput is one uploaded output file.
type AgentOutput struct {
	Output string `json:"output"`
	Path   string `json:"path"` // inside the output's directory
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// AgentService is the region's side of the agent protocol. Every call
// names the workspace, the cluster and the calling agent; calls about a job
// fail with EConflict once the job no longer belongs to that agent.
type AgentService interface {
	// ClaimJob waits up to wait for a queued job of the cluster and hands
	// it to the agent (status Preparing). It returns nil when none came,
	// or when the cluster already runs max_instances jobs.
	ClaimJob(ctx context.Context, workspace, compute, agent string, hb AgentHeartbeat, wait time.Duration) (*AgentWork, error)
	Heartbeat(ctx context.Context, workspace, compute, agent string, hb AgentHeartbeat) (*HeartbeatAnswer, error)
	// StartAgentJob records that the command runs (status Running).
	StartAgentJob(ctx context.Context, workspace, compute, agent, job string) error
	OpenAgentFile(ctx context.Context, workspace, compute, agent, job, path string) (io.ReadCloser, error)
	// OpenAgentInput returns file index of the job's input.
	OpenAgentInput(ctx context.Context, workspace, compute, agent, job, input string, index int) (io.ReadCloser, error)
	// AppendAgentLog adds to the live log that `job stream` shows.
	AppendAgentLog(ctx context.Context, workspace, compute, agent, job string, chunk io.Reader) error
	// PutAgentLog stores the whole log as logs/std_log.txt.
	PutAgentLog(ctx context.Context, workspace, compute, agent, job string, r io.Reader) (*BlobRef, error)
	PutAgentOutput(ctx context.Context, workspace, compute, agent, job, output, path string, r io.Reader) (*BlobRef, error)
	// SyncAgentOutputs records output files uploaded while the job runs.
	SyncAgentOutputs(ctx context.Context, workspace, compute, agent, job string, outputs []AgentOutput) error
	// OpenAgentSeed returns file index of the work's Seed.
	OpenAgentSeed(ctx context.Context, workspace, compute, agent, job string, index int) (io.ReadCloser, error)
	CompleteAgentJob(ctx context.Context, workspace, compute, agent, job string, res *AgentResult) (*Job, error)
	// ListAgents returns the agents of a cluster the region has heard from.
	ListAgents(ctx context.Context, workspace, compute string) ([]*Agent, error)
}
