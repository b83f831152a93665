package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"model.pkl":   "weights",
		"model.yml":   "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: m\npath: model.pkl\n",
		"job.yml":     "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ncommand: echo ${{inputs.x}}\nenvironment: azureml:env:1\n",
		"bad.yml":     "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: -m\npath: missing.pkl\ncolour: red\n",
		"plain.yml":   "name: e\nimage: python\n",
		"sub/env.yml": "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\nname: e\nimage: python\nconda_file: none.yml\n",
		"incl.yml":    "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ncommand: echo\nenvironment: file:sub/env.yml\n",
		"sweep.yml":   "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // exact lines
		stderrPart string
	}{
		{name: "OK", args: []string{"-f", "model.yml"}, code: 0, stdout: []string{"model.yml: ok (model/custom_model)"}},
		{name: "OKJobType", args: []string{"-f", "job.yml", "--set", "inputs.x=1"}, code: 0, stdout: []string{"job.yml: ok (job/command)"}},
		{name: "SetBreaks", args: []string{"-f", "job.yml"}, code: 1,
			stdout:     []string{`job.yml:2:15: command: ${{inputs.x}} refers to an undeclared input "x" (declared: none)`},
			stderrPart: "tandem: 1 problem in 1 of 1 file"},
		{name: "Problems", args: []string{"-f", "bad.yml"}, code: 1, stdout: []string{
			`bad.yml:2:7: name: "-m" is not valid: use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 255 characters`,
			"bad.yml:3:7: path: missing.pkl: no such file or directory",
			"bad.yml:4:1: colour: unknown field; allowed fields are: description, flavors, job_name, name, path, properties, stage, tags, type, version",
		}, stderrPart: "tandem: 3 problems in 1 of 1 file"},
		{name: "Several", args: []string{"-f", "model.yml", "-f", "sweep.yml", "-f", "nothere.yml"}, code: 1, stdout: []string{
			"model.yml: ok (model/custom_model)",
			"sweep.yml:2:7: type: sweep jobs (hyperparameter tuning) are not supported yet",
			"nothere.yml: no such file or directory",
		}, stderrPart: "tandem: 2 problems in 2 of 3 files"},
		{name: "NoSchema", args: []string{"-f", "plain.yml"}, code: 1, stdout: []string{
			"plain.yml:1:1: cannot tell what kind of document this is: it has no $schema; give the kind with --kind (model, data, environment, component, datastore, job, compute, online_endpoint, online_deployment, batch_endpoint, batch_deployment)",
		}},
		{name: "Kind", args: []string{"-f", "plain.yml", "--kind", "environment"}, code: 0, stdout: []string{"plain.yml: ok (environment)"}},
		{name: "ProblemInInclude", args: []string{"-f", "incl.yml"}, code: 1, stdout: []string{
			filepath.Join("sub", "env.yml") + ":4:13: environment.conda_file: none.yml: no such file or directory",
		}},
		{name: "NoFile", args: nil, code: 2, stderrPart: `required flag(s) "file" not set`},
		{name: "StrayArgument", args: []string{"model.yml"}, code: 2, stderrPart: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, dir, nil, "", append([]string{"validate"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("got exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.stdout != nil {
				got := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
				if strings.Join(got, "\n") != strings.Join(tt.stdout, "\n") {
					t.Fatalf("got stdout\n%s\nwant\n%s", r.stdout, strings.Join(tt.stdout, "\n"))
				}
			}
			if !strings.Contains(r.stderr, tt.stderrPart) {
				t.Fatalf("got stderr %q, want it to contain %q", r.stderr, tt.stderrPart)
			}
		})
	}
}

// TestValidateAbsolutePath keeps problem lines in the form the user gave.
func TestValidateAbsolutePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.yml")
	os.WriteFile(file, []byte("$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: m\npath: nope\n"), 0o644)
	r := runCLI(t, t.TempDir(), nil, "", "validate", "-f", file)
	if want := file + ":3:7: path: nope: no such file or directory\n"; r.code != 1 || r.stdout != want {
		t.Fatalf("got exit %d stdout %q, want 1 and %q", r.code, r.stdout, want)
	}
}
