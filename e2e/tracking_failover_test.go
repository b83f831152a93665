package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// mlflowPair logs metric points to an MLflow run holding both regions'
// tracking URIs: on a connection failure it tries the other one, on a
// refusal by a secondary the one its primary_tracking_uri names.
type mlflowPair struct {
	uris  [2]string
	cur   int
	token string
	acked map[int64]bool
}

func (c *mlflowPair) post(path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.uris[c.cur]+"/api/2.0/mlflow/"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// log sends the point at step until one region acknowledges it or stop
// closes; it reports whether it was acknowledged.
func (c *mlflowPair) log(runID string, step int64, stop <-chan struct{}) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		status, out, err := c.post("runs/log-metric", map[string]any{"run_id": runID, "key": "loss", "value": float64(step), "timestamp": 1000 + step, "step": step})
		switch {
		case err == nil && status == http.StatusOK:
			c.acked[step] = true
			return true
		case err != nil:
			c.cur = 1 - c.cur
		case out["primary_tracking_uri"] != nil:
			if out["primary_tracking_uri"] == c.uris[1-c.cur] {
				c.cur = 1 - c.cur
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// setAsideSteps are the steps of the metric points the old primary set
// aside in its divergences.
func setAsideSteps(t *testing.T, r *Region) map[int64]bool {
	t.Helper()
	divs, err := httpapi.NewClient([]string{r.Endpoint}, r.Token).ListDivergences(context.Background(), "soak")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, d := range divs {
		for _, ch := range d.Changes {
			var res tandem.Resource
			var l tandem.RunLog
			if ch.Kind != tandem.KindJobMetric || json.Unmarshal(ch.Body, &res) != nil || json.Unmarshal(res.Spec, &l) != nil {
				continue
			}
			for _, m := range l.Metrics {
				if m.Key == "loss" {
					out[m.Step] = true
				}
			}
		}
	}
	return out
}

// TestMLflowLoggingAcrossForcedFailover: a client holding both tracking
// URIs logs metric points; the primary is killed (-9) and a failover
// forced; the client follows to the new primary, which accepts the points
// that follow. Every acknowledged point is in the new primary's history or
// set aside by the old primary once it is back; once back, it refuses
// writes naming the new primary's tracking URI.
func TestMLflowLoggingAcrossForcedFailover(t *testing.T) {
	east, west := pairedRegions(t, StackSQLiteFile, nil)
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(east.MustCLI(t, "token", "create", "--name", "logger", "--workspace", "soak", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	c := &mlflowPair{uris: [2]string{tandem.MLflowTrackingURI(east.Endpoint, "soak"), tandem.MLflowTrackingURI(west.Endpoint, "soak")}, token: tok.Token, acked: map[int64]bool{}}
	status, out, err := c.post("experiments/create", map[string]any{"name": "forced"})
	if err != nil || status != http.StatusOK {
		t.Fatalf("experiments/create: %d %v %v", status, out, err)
	}
	status, out, err = c.post("runs/create", map[string]any{"experiment_id": out["experiment_id"], "run_name": "train"})
	if err != nil || status != http.StatusOK {
		t.Fatalf("runs/create: %d %v %v", status, out, err)
	}
	runID, _ := out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	WaitFor(t, 30*time.Second, "the run to reach westus", func() (bool, error) {
		_, err := httpapi.NewClient([]string{west.Endpoint}, tok.Token).GetRun(context.Background(), "soak", runID)
		return err == nil, err
	})

	stop := make(chan struct{})
	step := int64(0)
	for ; step < 30; step++ {
		c.log(runID, step, stop)
	}
	east.Kill()
	west.MustCLI(t, "pair", "failover", "--workspace", "soak", "--force", "--yes")
	for end := step + 30; step < end; step++ {
		c.log(runID, step, stop)
	}
	if c.cur != 1 {
		t.Fatalf("the client logs to %s after the failover, want westus", c.uris[c.cur])
	}
	east.Restart(t)
	WaitFor(t, 30*time.Second, "the old primary to demote itself", func() (bool, error) {
		out, _, code := east.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
		var st tandem.PairStatus
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			return false, fmt.Errorf("pair status: exit %d", code)
		}
		return st.Role == tandem.RoleSecondary && st.Epoch == 2, fmt.Errorf("role %s epoch %d", st.Role, st.Epoch)
	})
	c.cur = 0
	status, out, err = c.post("runs/log-metric", map[string]any{"run_id": runID, "key": "probe", "value": 1, "timestamp": 1})
	if err != nil || status != http.StatusServiceUnavailable || out["error_code"] != "TEMPORARILY_UNAVAILABLE" || out["primary_tracking_uri"] != c.uris[1] {
		t.Fatalf("log-metric to the old primary: %d %v %v, want 503 TEMPORARILY_UNAVAILABLE naming %s", status, out, err, c.uris[1])
	}

	hist, err := httpapi.NewClient([]string{west.Endpoint}, tok.Token).MetricHistory(context.Background(), "soak", runID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	onWest := map[int64]bool{}
	for _, m := range hist {
		onWest[m.Step] = true
	}
	aside := setAsideSteps(t, east)
	for s := range c.acked {
		if !onWest[s] && !aside[s] {
			t.Fatalf("acknowledged point at step %d is neither in the new primary nor set aside (%d acknowledged, %d on westus, %d set aside)", s, len(c.acked), len(onWest), len(aside))
		}
	}
	for s := int64(30); s < step; s++ {
		if !onWest[s] {
			t.Fatalf("point at step %d, logged after the failover, is not in the new primary", s)
		}
	}
	t.Logf("%d acknowledged: %d in westus, %d set aside by eastus", len(c.acked), len(onWest), len(aside))
}
