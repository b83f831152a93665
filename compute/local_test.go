package compute

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run gets its inputs' paths in the command, ./outputs and ./logs in its
// working directory (kept as the artifacts output), its notes in the log,
// and Cleanup removes everything, read-only input folders included.
func TestLocalInputsArtifactsCleanup(t *testing.T) {
	l := &Local{TempDir: t.TempDir()}
	job := &Job{
		Name:    "j1",
		Command: "cat ${{inputs.data}}/a.txt && echo kept > ./outputs/o.txt && echo $AZUREML_INPUT_DATA",
		Outputs: []string{ArtifactsOutput},
		Notes:   []string{"a note"},
		Inputs: func(dir string) (map[string]string, error) {
			d := filepath.Join(dir, "data")
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(d, "a.txt"), []byte("from input\n"), 0o444); err != nil {
				return nil, err
			}
			return map[string]string{"data": d}, os.Chmod(d, 0o555)
		},
	}
	res := l.Run(context.Background(), job, nil)
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("run: exit %d, %v", res.ExitCode, res.Err)
	}
	log, err := os.ReadFile(res.Log)
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(res.Root, "inputs", "data")
	for _, want := range []string{"tandem: a note\n", "from input\n", input + "\n"} {
		if !strings.Contains(string(log), want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
	if b, err := os.ReadFile(filepath.Join(res.Outputs[ArtifactsOutput], "outputs", "o.txt")); err != nil || string(b) != "kept\n" {
		t.Fatalf("artifacts output: %q, %v", b, err)
	}
	res.Cleanup()
	if _, err := os.Stat(res.Root); !os.IsNotExist(err) {
		t.Fatalf("run folder left behind: %v", err)
	}
}
