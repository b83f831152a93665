package token

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tandemml/tandem/cli/cmdutil"
)

func TestTokenSecretJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := cmdutil.WriteOutput(&buf, cmdutil.FormatJSON, Secret{Name: "ci", Token: "s3cret"}, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["name"] != "ci" || got["token"] != "s3cret" {
		t.Fatalf("got %v, want exactly {name: ci, token: s3cret}", got)
	}
}
