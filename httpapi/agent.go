package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tandemml/tandem"
)

// maxClaimWait bounds the long poll of a claim.
const maxClaimWait = 60 * time.Second

func (s *Server) agentRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	const base = "/v1/workspaces/{ws}/computes/{compute}/agents"
	v1("GET "+base, s.handleListAgents)
	v1("POST "+base+"/{agent}/claim", s.handleClaimJob)
	v1("POST "+base+"/{agent}/heartbeat", s.handleHeartbeat)
	v1("POST "+base+"/{agent}/jobs/{job}/start", s.handleStartAgentJob)
	v1("GET "+base+"/{agent}/jobs/{job}/files/{path...}", s.handleAgentFile)
	v1("GET "+base+"/{agent}/jobs/{job}/inputs/{input}/{index}", s.handleAgentInput)
	v1("POST "+base+"/{agent}/jobs/{job}/log", s.handleAppendAgentLog)
	v1("PUT "+base+"/{agent}/jobs/{job}/log", s.handlePutAgentLog)
	v1("PUT "+base+"/{agent}/jobs/{job}/outputs/{output}/{path...}", s.handlePutAgentOutput)
	v1("POST "+base+"/{agent}/jobs/{job}/complete", s.handleCompleteAgentJob)
	v1("POST "+base+"/{agent}/jobs/{job}/outputs-synced", s.handleSyncAgentOutputs)
	v1("GET "+base+"/{agent}/jobs/{job}/seed/{index}", s.handleAgentSeed)
}

func (s *Server) agents() (tandem.AgentService, error) {
	if s.Agents == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server does not serve agents")
	}
	return s.Agents, nil
}

func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	list, err := svc.ListAgents(r.Context(), r.PathValue("ws"), r.PathValue("compute"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleClaimJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var hb tandem.AgentHeartbeat
	if err := decode(r, &hb); err != nil {
		return err
	}
	wait := time.Duration(0)
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			return tandem.Errorf(tandem.EInvalid, "wait=%q is not a duration such as 20s", v).WithTarget("wait")
		}
	}
	work, err := svc.ClaimJob(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), hb, min(wait, maxClaimWait))
	if err != nil {
		return err
	}
	if work == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, work)
	return nil
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var hb tandem.AgentHeartbeat
	if err := decode(r, &hb); err != nil {
		return err
	}
	ans, err := svc.Heartbeat(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), hb)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) handleStartAgentJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	if err := svc.StartAgentJob(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentFile(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	file := r.PathValue("path")
	ws, compute, agent, job := r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job")
	rc, err := svc.OpenAgentFile(r.Context(), ws, compute, agent, job, file)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamUnverified(w, r, rc, "agent file")
	return nil
}

func (s *Server) handleAgentInput(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "input file index %q is not a number", r.PathValue("index")).WithTarget("index")
	}
	rc, err := svc.OpenAgentInput(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), r.PathValue("input"), index)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamUnverified(w, r, rc, "agent input")
	return nil
}

func (s *Server) handleAppendAgentLog(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	if err := svc.AppendAgentLog(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handlePutAgentLog(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	ref, err := svc.PutAgentLog(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}

func (s *Server) handlePutAgentOutput(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	ref, err := svc.PutAgentOutput(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), r.PathValue("output"), r.PathValue("path"), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}

func (s *Server) handleCompleteAgentJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var res tandem.AgentResult
	if err := decode(r, &res); err != nil {
		return err
	}
	j, err := svc.CompleteAgentJob(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), &res)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) handleSyncAgentOutputs(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	var req struct {
		Outputs []tandem.AgentOutput `json:"outputs"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := svc.SyncAgentOutputs(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), req.Outputs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentSeed(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.agents()
	if err != nil {
		return err
	}
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "seed file index %q is not a number", r.PathValue("index")).WithTarget("index")
	}
	rc, err := svc.OpenAgentSeed(r.Context(), r.PathValue("ws"), r.PathValue("compute"), r.PathValue("agent"), r.PathValue("job"), index)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamUnverified(w, r, rc, "agent seed")
	return nil
}

var _ tandem.AgentService = (*Client)(nil)

func (c *Client) SyncAgentOutputs(ctx context.Context, ws, compute, agent, job string, outputs []tandem.AgentOutput) error {
	return c.call(ctx, http.MethodPost, agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "outputs-synced"), nil, map[string]any{"outputs": outputs}, nil)
}

// OpenAgentSeed returns a seed file's bytes, unverified.
func (c *Client) OpenAgentSeed(ctx context.Context, ws, compute, agent, job string, index int) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "seed", strconv.Itoa(index))})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// OpenVerifiedAgentSeed returns a reader whose final Read fails with
// ECorrupt unless the bytes match f.
func (c *Client) OpenVerifiedAgentSeed(ctx context.Context, ws, compute, agent, job string, index int, f tandem.AgentOutput) (io.ReadCloser, error) {
	rc, err := c.OpenAgentSeed(ctx, ws, compute, agent, job, index)
	if err != nil {
		return nil, err
	}
	return verifiedDownload(rc, f.SHA256, f.Size, f.Output+"/"+f.Path), nil
}

func agentPath(ws, compute, agent string, rest ...string) string {
	p := wsPath(ws, "computes", url.PathEscape(compute), "agents", url.PathEscape(agent))
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func (c *Client) ListAgents(ctx context.Context, ws, compute string) ([]*tandem.Agent, error) {
	var out list[*tandem.Agent]
	return out.Value, c.call(ctx, http.MethodGet, wsPath(ws, "computes", url.PathEscape(compute), "agents"), nil, nil, &out)
}

// ClaimJob long-polls for work; nil when none came within wait.
func (c *Client) ClaimJob(ctx context.Context, ws, compute, agent string, hb tandem.AgentHeartbeat, wait time.Duration) (*tandem.AgentWork, error) {
	body, err := json.Marshal(hb)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: agentPath(ws, compute, agent, "claim"),
		query: url.Values{"wait": {wait.String()}}, body: bytes.NewReader(body), ctype: "application/json"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var work tandem.AgentWork
	if err := json.NewDecoder(resp.Body).Decode(&work); err != nil {
		return nil, tandem.Errorf(tandem.EInternal, "decode claimed work: %v", err)
	}
	return &work, nil
}

func (c *Client) Heartbeat(ctx context.Context, ws, compute, agent string, hb tandem.AgentHeartbeat) (*tandem.HeartbeatAnswer, error) {
	var ans tandem.HeartbeatAnswer
	return &ans, c.call(ctx, http.MethodPost, agentPath(ws, compute, agent, "heartbeat"), nil, hb, &ans)
}

func (c *Client) StartAgentJob(ctx context.Context, ws, compute, agent, job string) error {
	return c.call(ctx, http.MethodPost, agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "start"), nil, nil, nil)
}

// OpenAgentFile returns the file's bytes, unverified: the caller checks them
// against the AgentFile of its work.
func (c *Client) OpenAgentFile(ctx context.Context, ws, compute, agent, job, path string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "files", escapePath(path))})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// OpenVerifiedAgentFile returns a reader whose final Read fails with
// ECorrupt unless the bytes match f.
func (c *Client) OpenVerifiedAgentFile(ctx context.Context, ws, compute, agent, job string, f tandem.AgentFile) (io.ReadCloser, error) {
	rc, err := c.OpenAgentFile(ctx, ws, compute, agent, job, f.Path)
	if err != nil {
		return nil, err
	}
	return verifiedDownload(rc, f.SHA256, f.Size, f.Path), nil
}

// OpenAgentInput returns one input file's bytes, unverified: see
// OpenVerifiedAgentInput.
func (c *Client) OpenAgentInput(ctx context.Context, ws, compute, agent, job, input string, index int) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "inputs", url.PathEscape(input), strconv.Itoa(index))})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// OpenVerifiedAgentInput returns a reader whose final Read fails with
// ECorrupt unless the bytes match f.
func (c *Client) OpenVerifiedAgentInput(ctx context.Context, ws, compute, agent, job, input string, index int, f tandem.InputFile) (io.ReadCloser, error) {
	rc, err := c.OpenAgentInput(ctx, ws, compute, agent, job, input, index)
	if err != nil {
		return nil, err
	}
	return verifiedDownload(rc, f.SHA256, f.Size, input+"/"+f.Path), nil
}

func (c *Client) AppendAgentLog(ctx context.Context, ws, compute, agent, job string, chunk io.Reader) error {
	resp, err := c.do(ctx, request{method: http.MethodPost, path: agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "log"), body: chunk, ctype: "application/octet-stream"})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (c *Client) PutAgentLog(ctx context.Context, ws, compute, agent, job string, r io.Reader) (*tandem.BlobRef, error) {
	return c.putAgentBlob(ctx, agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "log"), r, "log of "+job)
}

func (c *Client) PutAgentOutput(ctx context.Context, ws, compute, agent, job, output, path string, r io.Reader) (*tandem.BlobRef, error) {
	return c.putAgentBlob(ctx, agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "outputs", url.PathEscape(output), escapePath(path)), r, output+"/"+path)
}

// putAgentBlob uploads bytes and checks that the server stored what was
// sent.
func (c *Client) putAgentBlob(ctx context.Context, path string, r io.Reader, what string) (*tandem.BlobRef, error) {
	body, sent := uploadBody(r, "upload of "+what)
	var size int64
	if rs, ok := r.(io.ReadSeeker); ok {
		if n, err := rs.Seek(0, io.SeekEnd); err == nil {
			size = n
			if _, err := rs.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
	}
	resp, err := c.do(ctx, request{method: http.MethodPut, path: path, body: body, size: size, ctype: "application/octet-stream"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ref tandem.BlobRef
	if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil {
		return nil, tandem.Errorf(tandem.EInternal, "decode upload answer: %v", err)
	}
	if sent := sent.Ref().SHA256; ref.SHA256 != sent {
		return nil, tandem.Errorf(tandem.ECorrupt, "upload of %s: server stored sha256 %s, sent %s", what, ref.SHA256, sent)
	}
	return &ref, nil
}

func (c *Client) CompleteAgentJob(ctx context.Context, ws, compute, agent, job string, res *tandem.AgentResult) (*tandem.Job, error) {
	var j tandem.Job
	return &j, c.call(ctx, http.MethodPost, agentPath(ws, compute, agent, "jobs", url.PathEscape(job), "complete"), nil, res, &j)
}

// streamUnverified sends bytes whose sha256 and size the agent already
// holds (in its work) and checks as it reads; a failure after the status is
// sent cuts the connection so that a short body is never taken as whole.
func (s *Server) streamUnverified(w http.ResponseWriter, r *http.Request, rc io.Reader, what string) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error(what+" download failed", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}
