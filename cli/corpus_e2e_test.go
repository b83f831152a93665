package cli

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/spec"
)

// TestE2ECorpusCreate registers, against a real server, every asset and
// datastore file of the Azure ML corpus that validates offline. Each must
// be created, unless it references an asset that is not registered in the
// workspace, which must then fail with NotFound naming that reference.
func TestE2ECorpusCreate(t *testing.T) {
	corpus := corpusDir(t)
	_, endpoint, token := startServer(t)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-corpus"}
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw-corpus")

	created, missingRef := 0, 0
	err := filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			return err
		}
		doc, err := spec.Load(p, spec.Options{})
		if err != nil {
			return nil // the offline outcome is spec's corpus test's business
		}
		switch doc.Kind {
		case spec.KindModel, spec.KindData, spec.KindEnvironment, spec.KindComponent, spec.KindDatastore:
		default:
			return nil
		}
		rel, _ := filepath.Rel(corpus, p)
		r := runCLI(t, dir, env, "", doc.Kind, "create", "-f", p, "-o", "json")
		var unresolved []string
		for _, ref := range doc.Refs {
			if ref.Registry == "" && ref.Kind != spec.KindDatastore && tandem.IsAssetKind(tandem.Kind(ref.Kind)) {
				unresolved = append(unresolved, ref.Name)
			}
		}
		switch {
		case r.code == 0:
			created++
		case r.code == 3 && len(unresolved) > 0 && strings.Contains(r.stderr, unresolved[0]):
			missingRef++
		default:
			t.Errorf("%s: %s create exited %d: %s", rel, doc.Kind, r.code, r.stderr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if created < 8 {
		t.Fatalf("created %d corpus assets (and %d refused for unregistered references); want at least 8", created, missingRef)
	}
	t.Logf("corpus: %d created, %d refused for references to unregistered assets", created, missingRef)
}
