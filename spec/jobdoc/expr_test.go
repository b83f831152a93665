package jobdoc

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseExpr(t *testing.T) {
	for _, c := range []struct {
		s    string
		ok   bool
		want Expr
	}{
		{"${{parent.inputs.lr}}", true, Expr{Kind: ExprParentInput, Name: "lr"}},
		{"  ${{ parent.inputs.lr }} ", true, Expr{Kind: ExprParentInput, Name: "lr"}},
		{"${{parent.outputs.model}}", true, Expr{Kind: ExprParentOutput, Name: "model"}},
		{"${{parent.jobs.train.outputs.model_output}}", true, Expr{Kind: ExprStepOutput, Step: "train", Name: "model_output"}},
		{"${{inputs.x}}", true, Expr{Kind: ExprInput, Name: "x"}},
		{"${{outputs.y}}", true, Expr{Kind: ExprOutput, Name: "y"}},
		{"${{name}}", true, Expr{Kind: ExprName}},
		{"${{parent.jobs.train.inputs.x}}", false, Expr{}},
		{"${{parent.jobs.train.outputs}}", false, Expr{}},
		{"${{parent.inputs.a-b}}", false, Expr{}},
		{"${{parent.inputs.}}", false, Expr{}},
		{"${{bogus}}", false, Expr{}},
		{"x ${{parent.inputs.lr}}", false, Expr{}},
		{"${{parent.inputs.a}}${{parent.inputs.b}}", false, Expr{}},
		{"${{parent.inputs.lr", false, Expr{}},
		{"plain", false, Expr{}},
		{"", false, Expr{}},
	} {
		got, ok := ParseExpr(c.s)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.s, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		got.Text = ""
		if got != c.want {
			t.Errorf("%q: %+v, want %+v", c.s, got, c.want)
		}
		// String writes it back in a form that reads the same.
		again, ok := ParseExpr(c.want.String())
		again.Text = ""
		if !ok || again != c.want {
			t.Errorf("%q: String %q reads as %+v", c.s, c.want.String(), again)
		}
	}
}

func TestExprs(t *testing.T) {
	s := "python t.py --in ${{inputs.data}} --out ${{ outputs.model }}/m --x ${{weird.thing}} ${{parent.jobs.a.outputs.o}}"
	got := Exprs(s)
	want := []Expr{
		{Kind: ExprInput, Name: "data", Text: "${{inputs.data}}"},
		{Kind: ExprOutput, Name: "model", Text: "${{ outputs.model }}"},
		{Kind: ExprOther, Text: "${{weird.thing}}"},
		{Kind: ExprStepOutput, Step: "a", Name: "o", Text: "${{parent.jobs.a.outputs.o}}"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Exprs:\n got %+v\nwant %+v", got, want)
	}
	if Exprs("no expressions") != nil {
		t.Error("expressions found in plain text")
	}
	replaced := ReplaceExprs("lr=${{parent.inputs.lr}} d=${{parent.inputs.d}} ${{name}}", func(e Expr) (string, bool) {
		if e.Kind == ExprParentInput && e.Name == "lr" {
			return "0.1", true
		}
		return "", false
	})
	if replaced != "lr=0.1 d=${{parent.inputs.d}} ${{name}}" {
		t.Errorf("ReplaceExprs: %q", replaced)
	}
}

func TestFormatLiteral(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{"s", "s"}, {int64(20), "20"}, {20, "20"}, {float64(20), "20"}, {0.001, "0.001"}, {1e-7, "0.0000001"},
		{1e21, "1000000000000000000000"}, {-1.5, "-1.5"}, {true, "true"}, {false, "false"},
	} {
		if got := FormatLiteral(c.v); got != c.want {
			t.Errorf("FormatLiteral(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestInputValues(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      *Input
		lit     any
		litOK   bool
		command string
		cmdOK   bool
	}{
		{"string", &Input{Literal: "a b"}, "a b", true, "a b", true},
		{"int", &Input{Literal: int64(3)}, int64(3), true, "3", true},
		{"float", &Input{Literal: 0.25}, 0.25, true, "0.25", true},
		{"bool", &Input{Literal: false}, false, true, "false", true},
		{"null", &Input{}, nil, false, "", false},
		{"nil", nil, nil, false, "", false},
		{"value", &Input{Mapping: true, Type: "integer", Value: int64(5), Default: int64(1)}, int64(5), true, "5", true},
		{"default", &Input{Mapping: true, Type: "number", Default: 0.5}, 0.5, true, "0.5", true},
		{"no value", &Input{Mapping: true, Type: "string", Optional: true}, nil, false, "", false},
		{"data", &Input{Mapping: true, Type: "uri_folder", Path: "azureml:d:1", Default: "x"}, nil, false, "${{inputs.data}}", true},
		{"list default", &Input{Mapping: true, Default: []any{"a"}}, []any{"a"}, true, "[a]", true},
	} {
		lit, ok := c.in.LiteralValue()
		if ok != c.litOK || !reflect.DeepEqual(lit, c.lit) {
			t.Errorf("%s: LiteralValue %#v %v, want %#v %v", c.name, lit, ok, c.lit, c.litOK)
		}
		cmd, ok := c.in.CommandValue("data")
		if ok != c.cmdOK || cmd != c.command {
			t.Errorf("%s: CommandValue %q %v, want %q %v", c.name, cmd, ok, c.command, c.cmdOK)
		}
	}
}

func TestInputExpr(t *testing.T) {
	for _, c := range []struct {
		in   *Input
		kind ExprKind
		ok   bool
	}{
		{&Input{Literal: "${{parent.inputs.x}}"}, ExprParentInput, true},
		{&Input{Literal: "prefix ${{parent.inputs.x}}"}, 0, false},
		{&Input{Literal: int64(1)}, 0, false},
		{&Input{Mapping: true, Type: "uri_folder", Path: "${{parent.jobs.a.outputs.o}}"}, ExprStepOutput, true},
		{&Input{Mapping: true, Type: "integer", Value: "${{parent.inputs.n}}"}, ExprParentInput, true},
		{&Input{Mapping: true, Type: "uri_folder", Path: "azureml:d:1"}, 0, false},
		{nil, 0, false},
	} {
		e, ok := c.in.Expr()
		if ok != c.ok || e.Kind != c.kind {
			t.Errorf("%+v: Expr %+v %v, want kind %d %v", c.in, e, ok, c.kind, c.ok)
		}
	}
	if e, ok := (&Output{Binding: "${{parent.outputs.o}}"}).Expr(); !ok || e.Kind != ExprParentOutput || e.Name != "o" {
		t.Errorf("output binding: %+v %v", e, ok)
	}
	if _, ok := (&Output{Mapping: true, Path: "${{parent.outputs.o}}"}).Expr(); ok {
		t.Error("an output mapping is not a binding")
	}
}

func TestSubstituteInputs(t *testing.T) {
	inputs := map[string]*Input{
		"s": {Literal: "hello"}, "n": {Literal: int64(3)}, "lr": {Literal: 0.001}, "flag": {Literal: true},
		"v":    {Mapping: true, Type: "integer", Value: int64(9)},
		"def":  {Mapping: true, Type: "string", Default: "d"},
		"data": {Mapping: true, Type: "uri_folder", Path: "azureml:d:1"},
		"none": {}, "opt": {Mapping: true, Type: "string", Optional: true},
	}
	for _, c := range []struct {
		command, want, missing string
	}{
		{"echo ${{inputs.s}} ${{ inputs.n }} ${{inputs.lr}} ${{inputs.flag}}", "echo hello 3 0.001 true", ""},
		{"run ${{inputs.v}} ${{inputs.def}}", "run 9 d", ""},
		{"ls ${{inputs.data}} > ${{outputs.o}}", "ls ${{inputs.data}} > ${{outputs.o}}", ""},
		{"run $[[--opt ${{inputs.opt}}]] $[[--s ${{inputs.s}}]]", "run  --s hello", ""},
		{"run $[[--n ${{inputs.none}}]]", "run ", ""},
		{"echo ${{inputs.none}}", "", "none"},
		{"echo ${{inputs.nope}} ${{inputs.other}}", "", "nope"},
	} {
		got, err := SubstituteInputs(c.command, inputs)
		var undef *UndefinedInputError
		switch {
		case c.missing != "":
			if !errors.As(err, &undef) || undef.Name != c.missing || err.Error() != `command refers to undefined input "`+c.missing+`"` {
				t.Errorf("%q: got %q %v, want undefined input %q", c.command, got, err, c.missing)
			}
		case err != nil || got != c.want:
			t.Errorf("%q: got %q %v, want %q", c.command, got, err, c.want)
		}
	}
}

func TestStepDeps(t *testing.T) {
	s := mustReadJob(t, m{"jobs": m{"s": m{
		"inputs": m{
			"a": "${{parent.jobs.zeta.outputs.o}}",
			"b": m{"type": "uri_folder", "path": "${{parent.jobs.alpha.outputs.o}}"},
			"c": m{"type": "integer", "value": "${{parent.jobs.mid.outputs.n}}"},
			"d": "${{parent.jobs.alpha.outputs.other}}",
			"e": "${{parent.inputs.x}}", "f": int64(3),
			"g": m{"type": "uri_folder", "path": "azureml://datastores/x/paths/${{parent.jobs.inpath.outputs.o}}/f"},
		},
		"outputs": m{"o": "${{parent.outputs.o}}", "p": m{"path": "${{parent.jobs.out.outputs.q}}"}},
	}}}).Jobs["s"]
	if got, want := s.Deps(), []string{"alpha", "inpath", "mid", "out", "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Deps %v, want %v", got, want)
	}
	if got := (&Step{Inputs: map[string]*Input{"x": {Literal: "${{parent.inputs.x}}"}}}).Deps(); len(got) != 0 {
		t.Errorf("Deps without step bindings: %v", got)
	}
}

func TestJobHelpers(t *testing.T) {
	j := mustReadJob(t, m{"type": "pipeline", "compute": "azureml:top",
		"jobs": m{"own": m{"compute": "azureml:gpu"}, "plain": m{}}})
	if j.StepCompute("own") != "gpu" || j.StepCompute("plain") != "top" || j.StepCompute("missing") != "top" {
		t.Errorf("step compute without settings: %q %q", j.StepCompute("own"), j.StepCompute("plain"))
	}
	j.Settings = &Settings{DefaultCompute: "azureml:cpu"}
	if j.StepCompute("own") != "gpu" || j.StepCompute("plain") != "cpu" {
		t.Errorf("step compute with settings: %q %q", j.StepCompute("own"), j.StepCompute("plain"))
	}
	if j.ContinueOnStepFailure() || (&Job{}).ContinueOnStepFailure() {
		t.Error("continue_on_step_failure without it set")
	}
	if (&Job{}).StepCompute("x") != "" || ComputeName("local") != "local" || ComputeName("azureml:c") != "c" {
		t.Error("compute names")
	}

	c := mustReadJob(t, jsonRoundTrip(t, m{"command": "python t.py --o ${{outputs.model}} --o ${{outputs.extra}}/x",
		"outputs": m{"model": nil, "logs": m{"type": "uri_folder"}}, "limits": m{"timeout": int64(90)}}))
	if got := c.OutputNames(); !reflect.DeepEqual(got, []string{"extra", "logs", "model"}) {
		t.Errorf("OutputNames %v", got)
	}
	if c.Timeout().Seconds() != 90 || c.InstanceCount() != 1 || (&Job{}).Timeout() != 0 {
		t.Errorf("timeout %v, instances %d", c.Timeout(), c.InstanceCount())
	}
	for _, r := range []struct {
		fields m
		want   bool
	}{
		{m{"resubmit_on_failover": true}, true},
		{m{"properties": m{"resubmit_on_failover": "true"}}, true},
		{m{"properties": m{"resubmit_on_failover": "True"}}, true},
		{m{"properties": m{"resubmit_on_failover": "false"}}, false},
		{m{"properties": m{"resubmit_on_failover": "sometimes"}}, false},
		{m{"resubmit_on_failover": false}, false},
		{m{}, false},
	} {
		if got := mustReadJob(t, r.fields).Resubmits(); got != r.want {
			t.Errorf("%v: Resubmits %v", r.fields, got)
		}
	}
}

func TestMergeCommandFields(t *testing.T) {
	env := &Environment{Ref: "azureml:e:1"}
	comp := CommandFields{Command: "python c.py", Code: "./c", Environment: env,
		EnvironmentVariables: map[string]string{"A": "comp", "B": "comp"}, Resources: &Resources{InstanceCount: 2}}
	step := CommandFields{Code: "./s", EnvironmentVariables: map[string]string{"B": "step", "C": "step"}, Limits: &Limits{Timeout: 5}}
	got := MergeCommandFields(comp, step)
	want := CommandFields{Command: "python c.py", Code: "./s", Environment: env,
		EnvironmentVariables: map[string]string{"A": "comp", "B": "step", "C": "step"}, Resources: &Resources{InstanceCount: 2}, Limits: &Limits{Timeout: 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged:\n got %+v\nwant %+v", got, want)
	}
	if comp.EnvironmentVariables["B"] != "comp" || len(comp.EnvironmentVariables) != 2 {
		t.Error("MergeCommandFields changed its base")
	}
	if got := MergeCommandFields(comp, CommandFields{}); !reflect.DeepEqual(got, comp) {
		t.Errorf("merging nothing: %+v", got)
	}
}

func TestInputOutputMerge(t *testing.T) {
	in := &Input{Mapping: true, Type: "uri_folder", Path: "${{parent.jobs.a.outputs.o}}", Mode: "download", Extra: m{"x": int64(1)}}
	in.Merge(&Input{Mapping: true, Type: "uri_file", Path: "azureml://jobs/p.a/outputs/o", Extra: m{"y": "2"}})
	want := &Input{Mapping: true, Type: "uri_file", Path: "azureml://jobs/p.a/outputs/o", Mode: "download", Extra: m{"x": int64(1), "y": "2"}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("merged input %+v", in)
	}
	lit := &Input{Literal: "${{parent.inputs.x}}"}
	lit.Merge(&Input{Literal: int64(4)})
	if lit.Literal != int64(4) || lit.Mapping {
		t.Errorf("a literal merged with a literal: %+v", lit)
	}
	lit.Merge(&Input{Mapping: true, Type: "integer", Default: int64(2)})
	if !lit.Mapping || lit.Literal != nil || lit.Default != int64(2) || lit.Type != "integer" {
		t.Errorf("a literal merged with a mapping: %+v", lit)
	}

	o := &Output{Binding: "${{parent.outputs.p}}"}
	o.Merge(&Output{Mapping: true, Type: "uri_file", Path: "azureml://datastores/d/paths/${{name}}/f", Mode: "upload"})
	if o.Binding != "" || !o.Mapping || o.Type != "uri_file" || o.Mode != "upload" {
		t.Errorf("merged output %+v", o)
	}
	o.Merge(&Output{Mapping: true, Name: "asset"})
	if o.Type != "uri_file" || o.Name != "asset" {
		t.Errorf("merged output keeps what over does not give: %+v", o)
	}
	before := *o
	o.Merge(&Output{Binding: "${{parent.outputs.x}}"})
	o.Merge(nil)
	if !reflect.DeepEqual(*o, before) {
		t.Errorf("a binding or nil merged in changed the output: %+v", o)
	}

	c := want.Clone()
	c.Extra["x"] = "changed"
	c.Path = "changed"
	if want.Extra["x"] != int64(1) || want.Path != "azureml://jobs/p.a/outputs/o" {
		t.Error("Clone shares its input's fields")
	}
	oc := o.Clone()
	oc.Extra = m{"k": "v"}
	if o.Extra != nil || (*Input)(nil).Clone() != nil || (*Output)(nil).Clone() != nil {
		t.Error("Output.Clone")
	}
}
