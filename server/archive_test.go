package server_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestImportIntoPairReplicates imports an archive over HTTP into the
// primary of a hot/warm pair: every resource it writes reaches the
// secondary (imports are ordinary change-log writes), and the secondary
// refuses the same import with NotPrimary.
func TestImportIntoPairReplicates(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)

	// The archive comes from a workspace of a third, unrelated region.
	south := startRegion(t, "southus", filepath.Join(t.TempDir(), "vault.key"))
	if err := south.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "origin"}); err != nil {
		t.Fatal(err)
	}
	for _, nb := range []string{"a.ipynb", "dir/b.ipynb"} {
		if _, err := south.admin.UploadNotebook(ctx, "origin", nb, strings.NewReader("cells of "+nb)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := south.admin.SetSecret(ctx, "origin", "token", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := south.admin.ExportWorkspace(ctx, "origin", tandem.ExportOptions{Include: []string{"all"}, Passphrase: "a long passphrase"}, &tarball); err != nil {
		t.Fatal(err)
	}

	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotWarm}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, east, west, ws.ID)
	opts := tandem.ImportOptions{Passphrase: "a long passphrase"}
	_, err := west.admin.ImportWorkspace(ctx, "vision", opts, bytes.NewReader(tarball.Bytes()))
	if tandem.ErrorCode(err) != tandem.ENotPrimary {
		t.Fatalf("import into the secondary: %v, want NotPrimary", err)
	}
	rep, err := east.admin.ImportWorkspace(ctx, "vision", opts, bytes.NewReader(tarball.Bytes()))
	if err != nil || rep.Resources[tandem.ImportCreated] != 3 {
		t.Fatalf("import into the primary: %+v, %v", rep, err)
	}
	waitConverged(t, east, west, ws.ID)
	if v, err := west.admin.GetSecretValue(ctx, "vision", "token"); err != nil || string(v) != "s3cret" {
		t.Fatalf("imported secret on the secondary: %q, %v", v, err)
	}
	a, err := east.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := west.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil || a.Digest != b.Digest {
		t.Fatalf("pair digests after the import: %v vs %v (%v)", a.Digest, b.Digest, err)
	}
	c, _ := south.admin.DigestWorkspace(ctx, "origin", tandem.DigestOptions{Content: true})
	d, _ := east.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{Content: true})
	if c.Digest == "" || c.Digest != d.Digest {
		t.Fatalf("content digests of the source and the import differ: %s vs %s", c.Digest, d.Digest)
	}
}

// TestImportRefusedMidStream sends a large archive whose first blob is
// damaged: the server stops at the damage, and the client still gets the
// Corrupt answer (not a broken connection), with nothing written.
func TestImportRefusedMidStream(t *testing.T) {
	ctx := context.Background()
	east := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "big"}); err != nil {
		t.Fatal(err)
	}
	// a.bin streams first; 16 MiB follow it.
	if _, err := east.admin.UploadNotebook(ctx, "big", "a.bin", strings.NewReader("the small first blob")); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("0123456789abcdef", 1<<20)
	if _, err := east.admin.UploadNotebook(ctx, "big", "z.bin", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := east.admin.ExportWorkspace(ctx, "big", tandem.ExportOptions{}, &tarball); err != nil {
		t.Fatal(err)
	}
	b := tarball.Bytes()
	i := bytes.Index(b, []byte("the small first blob"))
	b[i+4] ^= 1
	_, err := east.admin.ImportWorkspace(ctx, "copy", tandem.ImportOptions{}, bytes.NewReader(b))
	if tandem.ErrorCode(err) != tandem.ECorrupt || !strings.Contains(err.Error(), "does not match the sha256") {
		t.Fatalf("import of a damaged archive: %v, want Corrupt naming the blob", err)
	}
	if _, err := east.admin.FindWorkspace(ctx, "copy"); tandem.ErrorCode(err) != tandem.ENotFound {
		t.Fatalf("the refused import left a workspace: %v", err)
	}
}
