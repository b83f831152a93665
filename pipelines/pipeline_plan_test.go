package pipelines

import (
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
)

func TestPlanPipeline(t *testing.T) {
	// a -> b -> d, c independent.
	steps := []tandem.JobStep{{Name: "a"}, {Name: "b", DependsOn: []string{"a"}}, {Name: "c"}, {Name: "d", DependsOn: []string{"b"}}}
	const (
		ns = tandem.JobNotStarted
		ok = tandem.JobCompleted
		no = tandem.JobFailed
		ru = tandem.JobRunning
		cx = tandem.JobCanceled
	)
	for _, c := range []struct {
		name                    string
		status                  []string // a, b, c, d
		cont, canceled, stopped bool
		want                    pipelinePlan
	}{
		{"start", []string{ns, ns, ns, ns}, false, false, false, pipelinePlan{ready: []string{"a", "c"}}},
		{"next", []string{ok, ns, ru, ns}, false, false, false, pipelinePlan{ready: []string{"b"}}},
		{"waiting", []string{ok, ru, ru, ns}, false, false, false, pipelinePlan{}},
		{"completed", []string{ok, ok, ok, ok}, false, false, false, pipelinePlan{final: ok}},
		{"failure cancels", []string{no, ns, ru, ns}, false, false, false, pipelinePlan{cancel: []string{"c"}}},
		{"failure ends", []string{no, ns, cx, ns}, false, false, false, pipelinePlan{final: no}},
		{"continue", []string{no, ns, ru, ns}, true, false, false, pipelinePlan{}},
		{"continue ends", []string{no, ns, ok, ns}, true, false, false, pipelinePlan{final: no}},
		{"continue past", []string{ok, no, ns, ns}, true, false, false, pipelinePlan{ready: []string{"c"}}},
		{"cancel", []string{ru, ns, ru, ns}, false, true, false, pipelinePlan{cancel: []string{"a", "c"}}},
		{"canceled", []string{cx, ns, ok, ns}, false, true, false, pipelinePlan{final: cx}},
		{"server stops", []string{ru, ns, ru, ns}, false, false, true, pipelinePlan{final: no}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status := map[string]string{}
			for i, s := range steps {
				status[s.Name] = c.status[i]
			}
			if got := planPipeline(steps, status, c.cont, c.canceled, c.stopped); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
