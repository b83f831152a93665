package mlflowapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tandemml/tandem"
)

// TestNotPrimaryShape: a write refused by a secondary keeps MLflow's
// retried 503 TEMPORARILY_UNAVAILABLE and adds the primary's tracking URI
// in the body and the X-Tandem-Primary header, when the primary is known.
func TestNotPrimaryShape(t *testing.T) {
	h := &Handler{}
	for _, c := range []struct {
		name, ws, want string
		err            error
	}{
		{"primary known", "vision", "https://west.example/mlflow/workspaces/vision",
			tandem.Errorf(tandem.ENotPrimary, "read-only secondary").WithTarget("https://west.example/")},
		{"primary unknown", "vision", "", tandem.Errorf(tandem.ENotPrimary, "read-only secondary")},
		{"workspace unknown", "", "", tandem.Errorf(tandem.ENotPrimary, "read-only secondary").WithTarget("https://west.example")},
		{"other error", "vision", "", tandem.Errorf(tandem.EUnavailable, "database down").WithTarget("db")},
	} {
		rec := httptest.NewRecorder()
		h.writeMLflowError(rec, httptest.NewRequest("POST", "/api/2.0/mlflow/runs/log-metric", nil), c.ws, c.err)
		var body map[string]any
		if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		uri, has := body["primary_tracking_uri"]
		if rec.Code != http.StatusServiceUnavailable || body["error_code"] != "TEMPORARILY_UNAVAILABLE" || body["message"] == "" ||
			rec.Header().Get(headerPrimary) != c.want || (c.want == "") == has || (has && uri != c.want) {
			t.Errorf("%s: %d %v (%s %q), want 503 TEMPORARILY_UNAVAILABLE with primary %q",
				c.name, rec.Code, body, headerPrimary, rec.Header().Get(headerPrimary), c.want)
		}
	}
}
