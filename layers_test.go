package tandem_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// The import rules of docs/design.md ("Layers and import rules"), checked
// on the packages `go list` sees.

const module = "github.com/tandemml/tandem"

// layer names the layer of a package of the project; "" for packages the
// rules do not cover (tests, benchmarks, programs).
func layer(pkg string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	first, _, _ := strings.Cut(p, "/")
	switch {
	case p == "":
		return "root"
	case p == "region":
		return "kernel"
	case p == "spec/jobdoc":
		return "adapter"
	case strings.HasSuffix(p, "test") || first == "e2e" || first == "bench" || first == "conformance":
		return ""
	}
	switch first {
	case "sqlstore", "blobstore", "vault", "httpapi", "spec", "archive", "compute", "faultproxy":
		return "adapter"
	case "assets", "secrets", "jobs", "pipelines", "tracking", "failover", "backup", "replication":
		return "domain"
	case "app", "server":
		return "wiring"
	case "cli", "cmd", "agent":
		return "program"
	}
	return "unknown"
}

// formats are the adapters a domain package may use: pure formats and the
// executor, no I/O backend.
var formats = map[string]bool{"spec": true, "spec/jobdoc": true, "archive": true, "compute": true}

// domainEdges are the domain packages each domain package may import.
// Everything else between them goes through a small interface or a hook
// wired in app.
var domainEdges = map[string][]string{
	"assets":      nil,
	"secrets":     nil,
	"jobs":        {"assets"},
	"pipelines":   {"assets", "jobs"},
	"tracking":    {"jobs"},
	"failover":    {"replication"},
	"backup":      {"secrets"},
	"replication": nil,
}

func allowed(from, to string) (bool, string) {
	lf, lt := layer(module+"/"+from), layer(module+"/"+to)
	if from == "" {
		lf = "root"
	}
	first, _, _ := strings.Cut(from, "/")
	toFirst, _, _ := strings.Cut(to, "/")
	switch lf {
	case "root":
		return false, "the root package imports nothing of the project"
	case "adapter":
		return lt == "root" || (first == toFirst && lt == "adapter"), "adapters import only the root package (and their own subpackages)"
	case "kernel":
		return lt == "root", "the kernel imports only the root package"
	case "domain":
		switch {
		case lt == "root" || lt == "kernel" || formats[to]:
			return true, ""
		case lt == "domain":
			for _, ok := range domainEdges[from] {
				if ok == to {
					return true, ""
				}
			}
			return false, "domain packages import each other only along the edges of domainEdges"
		}
		return false, "domain packages import the root, the kernel, other domain packages and formats (spec, archive, compute) only; never a backend, httpapi, cli or server"
	case "wiring":
		if from == "app" {
			return lt == "root" || lt == "kernel" || lt == "domain", "app wires the kernel and the domain packages only"
		}
		return lt != "program" && lt != "unknown", "server never imports cli or the agent"
	case "program":
		switch {
		case toFirst == "app":
			return false, "programs reach the services over the API or through server, never app"
		case lt == "kernel" || lt == "domain":
			return from == "cli/cmd/serve", "only the serve command reads the kernel's and the services' defaults"
		}
		return true, ""
	}
	return true, ""
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var broken []string
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		seen[layer(pkg)] = true
		if layer(pkg) == "unknown" {
			broken = append(broken, pkg+": in no layer; add it to layer() and docs/design.md")
			continue
		}
		if layer(pkg) == "" {
			continue
		}
		from := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		for _, imp := range f[1:] {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if to == "" {
				to = "."
			}
			target := to
			if target == "." {
				target = ""
			}
			if ok, why := allowed(from, target); !ok {
				broken = append(broken, pkg+" imports "+imp+": "+why)
			}
		}
	}
	for _, l := range []string{"root", "kernel", "adapter", "domain", "wiring", "program"} {
		if !seen[l] {
			t.Errorf("no package in layer %q: the layer map is out of date", l)
		}
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Error(b)
	}
}

// The rules refuse what they are meant to refuse.
func TestImportRulesRefuse(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"", "region", false},
		{"region", "assets", false},
		{"region", "", true},
		{"sqlstore", "blobstore", false},
		{"httpapi", "spec", false},
		{"spec/jobdoc", "spec", true},
		{"jobs", "httpapi", false},
		{"jobs", "sqlstore", false},
		{"jobs", "assets", true},
		{"jobs", "spec", true},
		{"assets", "jobs", false},
		{"failover", "jobs", false},
		{"app", "httpapi", false},
		{"app", "jobs", true},
		{"server", "cli", false},
		{"cli/cmd/job", "app", false},
		{"cli/cmd/job", "jobs", false},
		{"cli/cmd/serve", "jobs", true},
		{"agent", "httpapi", true},
	} {
		if got, why := allowed(c.from, c.to); got != c.ok {
			t.Errorf("allowed(%q, %q) = %v (%s), want %v", c.from, c.to, got, why, c.ok)
		}
	}
}
