package tracking

import (
	"testing"

	"github.com/tandemml/tandem"
)

func TestFreeExperimentID(t *testing.T) {
	all := []*tandem.Experiment{{ID: "0"}, {ID: "7"}, {ID: "8"}}
	if got := freeExperimentID(all, 7); got != "9" {
		t.Fatalf("freeExperimentID from 7 = %s, want 9", got)
	}
	if got := freeExperimentID(all, 3); got != "3" {
		t.Fatalf("freeExperimentID from 3 = %s, want 3", got)
	}
}

func TestParseFilter(t *testing.T) {
	cs, err := parseFilter("metrics.`val loss` <= 0.5 and tags.\"mlflow.user\" LIKE 'a%' AND status != 'FAILED' AND params.lr = \"0.1\"")
	if err != nil {
		t.Fatal(err)
	}
	want := []clause{
		{entity: "metric", key: "val loss", op: "<=", value: "0.5", num: 0.5, isNum: true},
		{entity: "tag", key: "mlflow.user", op: "LIKE", value: "a%"},
		{entity: "attribute", key: "status", op: "!=", value: "FAILED"},
		{entity: "param", key: "lr", op: "=", value: "0.1"},
	}
	if len(cs) != len(want) {
		t.Fatalf("parsed %+v", cs)
	}
	for i := range want {
		if cs[i] != want[i] {
			t.Errorf("clause %d = %+v, want %+v", i, cs[i], want[i])
		}
	}
	for _, bad := range []string{"name = 'a' OR name = 'b'", "foo.x = 'a'", "name =", "name = 'a' name = 'b'"} {
		if _, err := parseFilter(bad); !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("parseFilter(%q) = %v, want Invalid", bad, err)
		}
	}
	if !matchString(clause{op: "LIKE", value: "fr_ud%"}, "fraud-v2") || matchString(clause{op: "LIKE", value: "fr%"}, "Fraud") ||
		!matchString(clause{op: "ILIKE", value: "fr%"}, "Fraud") {
		t.Error("LIKE and ILIKE")
	}
}
