package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// trackingClient logs to an MLflow run through a workspace's tracking URI
// and follows the primary as a client holding both regions' URIs would: a
// refusal by a secondary (503 TEMPORARILY_UNAVAILABLE carrying
// primary_tracking_uri) switches it to the URI the answer names.
type trackingClient struct {
	token string
	mu    sync.Mutex
	uri   string         // the tracking URI writes go to
	acked map[int64]bool // steps whose log-metric was acknowledged
	byURI map[string]int // acknowledged writes per tracking URI
}

// logMetric sends one point; it reports whether it was acknowledged.
// A transport error or any refusal is not an acknowledgement.
func (c *trackingClient) logMetric(runID string, step int64) bool {
	c.mu.Lock()
	uri := c.uri
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"run_id": runID, "key": "loss", "value": float64(step), "timestamp": 1000 + step, "step": step})
	req, _ := http.NewRequest("POST", uri+"/api/2.0/mlflow/runs/log-metric", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.StatusCode == http.StatusOK {
		c.acked[step] = true
		c.byURI[uri]++
		return true
	}
	if next, _ := body["primary_tracking_uri"].(string); resp.StatusCode == http.StatusServiceUnavailable && next != "" {
		c.uri = next
	}
	return false
}

func (c *trackingClient) count(uri string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byURI[uri]
}

// loop logs steps 0, 1, ... until stop closes, each point once acknowledged
// (a refused or failed point is sent again, to the URI then current).
func (c *trackingClient) loop(runID string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for step := int64(0); ; {
		select {
		case <-stop:
			return
		default:
		}
		if c.logMetric(runID, step) {
			step++
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// waitUntil polls cond; the deadline only keeps a broken build from hanging.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMLflowLoggingFollowsFailover logs metric points to an MLflow run
// through the workspace's tracking URI while a planned failover moves the
// primary: the client follows the refusal's primary_tracking_uri, every
// acknowledged point is in the new primary's metric history, and points
// logged after the failover are accepted there.
func TestMLflowLoggingFollowsFailover(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, token, err := east.admin.CreateToken(ctx, "user", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotWarm}); err != nil {
		t.Fatal(err)
	}
	eastURI := tandem.MLflowTrackingURI(east.Endpoint(), "vision")
	westURI := tandem.MLflowTrackingURI(west.Endpoint(), "vision")
	at := func(uri string) mlflowCaller {
		return mlflowCaller{t, uri + "/api/2.0/mlflow/", bearerAuth(token)}
	}
	status, got := at(eastURI).call("POST", "experiments/create", `{"name":"failover"}`)
	if status != http.StatusOK {
		t.Fatalf("experiments/create: %d %v", status, got)
	}
	status, got = at(eastURI).call("POST", "runs/create", fmt.Sprintf(`{"experiment_id":%q,"run_name":"train"}`, got["experiment_id"]))
	if status != http.StatusOK {
		t.Fatalf("runs/create: %d %v", status, got)
	}
	runID, _ := got["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)

	c := &trackingClient{token: token, uri: eastURI, acked: map[int64]bool{}, byURI: map[string]int{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go c.loop(runID, stop, done)
	waitUntil(t, "points acknowledged by eastus", func() bool { return c.count(eastURI) >= 20 })
	rec, err := west.admin.Failover(ctx, "vision", tandem.FailoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != tandem.FailoverPlanned || rec.ToRegion != "westus" {
		t.Fatalf("failover record %+v, want a planned move to westus", rec)
	}
	waitUntil(t, "points acknowledged by westus", func() bool { return c.count(westURI) >= 20 })
	close(stop)
	<-done

	checkRefusal(t, at(eastURI), runID, westURI)
	checkRefusal(t, mlflowCaller{t, east.Endpoint() + "/api/2.0/mlflow/", bearerAuth(token)}, runID, westURI)

	status, got = at(westURI).call("GET", "metrics/get-history?metric_key=loss&run_id="+runID, "")
	if status != http.StatusOK {
		t.Fatalf("metrics/get-history on the new primary: %d %v", status, got)
	}
	have := map[int64]bool{}
	for _, m := range got["metrics"].([]any) {
		switch step := m.(map[string]any)["step"].(type) {
		case float64:
			have[int64(step)] = true
		case string: // int64 as a string, as protobuf's JSON mapping allows
			var n int64
			fmt.Sscan(step, &n)
			have[n] = true
		}
	}
	for step := range c.acked {
		if !have[step] {
			t.Fatalf("acknowledged point at step %d is not in the new primary's history (%d acknowledged, %d there)", step, len(c.acked), len(have))
		}
	}
	t.Logf("%d points acknowledged: %d by eastus, %d by westus after following the refusal", len(c.acked), c.count(eastURI), c.count(westURI))
}

// checkRefusal asserts the shape of a tracking write refused by a
// secondary: 503 TEMPORARILY_UNAVAILABLE, a message, and the primary's
// tracking URI in the body and in the X-Tandem-Primary header.
func checkRefusal(t *testing.T, at mlflowCaller, runID, primaryURI string) {
	t.Helper()
	b := fmt.Sprintf(`{"run_id":%q,"key":"loss","value":1,"timestamp":1}`, runID)
	req, _ := http.NewRequest("POST", at.base+"runs/log-metric", bytes.NewReader([]byte(b)))
	at.auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body["error_code"] != "TEMPORARILY_UNAVAILABLE" || body["message"] == "" ||
		body["primary_tracking_uri"] != primaryURI || resp.Header.Get("X-Tandem-Primary") != primaryURI {
		t.Fatalf("log-metric at %s on the secondary: %d %v (X-Tandem-Primary %q), want 503 TEMPORARILY_UNAVAILABLE naming %s",
			at.base, resp.StatusCode, body, resp.Header.Get("X-Tandem-Primary"), primaryURI)
	}
}
