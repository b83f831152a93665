package spec

import (
	"regexp"
	"strings"
)

// Ref is a reference to another asset or to a datastore found in a document.
type Ref struct {
	Field   string
	Kind    string // model, data, environment, component, datastore (code for a code asset)
	Name    string
	Version string // "" when Label is set
	Label   string // "latest" for name@latest
	// Registry names the Azure ML registry of a reference like
	// azureml://registries/azureml/environments/sklearn-1.5/labels/latest;
	// "" for the workspace's own assets.
	Registry string
	Raw      string
	File     string // the file holding the reference (a file: include or the document)
	Pos      Pos
}

// armPrefix is Azure's prefix for references to registered assets.
const armPrefix = "azureml:"

var (
	// assetName is Azure's rule for asset names (data, model, environment,
	// component): letters, digits, '-', '_' and '.', starting with a letter
	// or digit, at most 255 characters.
	assetName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	assetNameMsg = "use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 255 characters"

	// Long forms: ARM ids and registry URIs.
	armIDRef    = regexp.MustCompile(`^/subscriptions/[^/]+/resource[gG]roups/[^/]+/providers/Microsoft\.MachineLearningServices/(?:workspaces|registries)/[^/]+/(models|data|environments|components|codes)/([^/]+)(?:/(versions|labels)/([^/]+))?$`)
	registryRef = regexp.MustCompile(`^azureml://registries/([^/]+)/(models|data|environments|components|codes)/([^/]+)(?:/(versions|labels)/([^/]+))?$`)
	datastoreRe = regexp.MustCompile(`^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/(?:providers/Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?datastores/([^/]+)/paths(?:/(.*))?$`)
)

// collection names in long-form references, to kinds.
var refCollections = map[string]string{
	"models": KindModel, "data": KindData, "environments": KindEnvironment,
	"components": KindComponent, "codes": "code",
}

// ParseRef parses a reference to a registered asset: "azureml:name:version",
// "azureml:name@latest" (any label after @), the bare "name:version" and
// "name@label", an ARM id "azureml:/subscriptions/.../models/name/versions/3"
// (with or without the azureml: prefix) and a registry URI
// "azureml://registries/R/environments/name/labels/latest". Kind is set only
// when the reference itself says it (long forms); callers set it from the
// field otherwise. "azureml:name" without a version is a reference to the
// latest version (Label "latest"), as Azure reads it where a default version
// is allowed.
func ParseRef(s string) (Ref, bool) {
	r := Ref{Raw: s}
	if m := registryRef.FindStringSubmatch(s); m != nil {
		r.Registry, r.Kind, r.Name = m[1], refCollections[m[2]], m[3]
		return r.withVersion(m[4], m[5])
	}
	body := strings.TrimPrefix(s, armPrefix)
	if m := armIDRef.FindStringSubmatch(body); m != nil {
		r.Kind, r.Name = refCollections[m[1]], m[2]
		return r.withVersion(m[3], m[4])
	}
	if strings.HasPrefix(body, "/") || strings.Contains(body, "://") || body == "" {
		return Ref{}, false
	}
	name, version, label := body, "", ""
	if i := strings.LastIndex(body, "@"); i >= 0 {
		name, label = body[:i], body[i+1:]
		if label == "" {
			return Ref{}, false
		}
	} else if i := strings.LastIndex(body, ":"); i >= 0 {
		name, version = body[:i], body[i+1:]
		if version == "" {
			return Ref{}, false
		}
	} else if body == s {
		return Ref{}, false // a bare name alone is not a reference
	} else {
		label = "latest"
	}
	if !assetName.MatchString(name) || (version != "" && !versionPattern.MatchString(version)) ||
		(label != "" && !versionPattern.MatchString(label)) {
		return Ref{}, false
	}
	r.Name, r.Version, r.Label = name, version, label
	return r, true
}

func (r Ref) withVersion(kind, v string) (Ref, bool) {
	switch kind {
	case "versions":
		r.Version = v
	case "labels":
		r.Label = v
	default:
		r.Label = "latest"
	}
	return r, r.Name != ""
}

// ParseDatastoreURI parses azureml://datastores/<ds>/paths/<p>, also in the
// long form azureml://subscriptions/S/resourcegroups/G/workspaces/W/datastores/<ds>/paths/<p>.
func ParseDatastoreURI(s string) (datastore, path string, ok bool) {
	m := datastoreRe.FindStringSubmatch(s)
	if m == nil || m[1] == "" {
		return "", "", false
	}
	return m[1], m[2], true
}

var workspaceURIRe = regexp.MustCompile(`^azureml://subscriptions/[^/]+/resource[gG]roups/([^/]+)/(?:providers/Microsoft\.MachineLearningServices/)?workspaces/([^/]+)/datastores/([^/]+)/paths(?:/(.*))?$`)

// ParseWorkspaceURI parses the long form of a datastore URI, which names
// the workspace: azureml://subscriptions/S/resourcegroups/G/workspaces/W/
// datastores/DS/paths/P. Tandem reads the resource group as the region.
func ParseWorkspaceURI(s string) (group, workspace, datastore, path string, ok bool) {
	m := workspaceURIRe.FindStringSubmatch(s)
	if m == nil {
		return "", "", "", "", false
	}
	return m[1], m[2], m[3], m[4], true
}

// IsRefString reports whether s is written as a reference to a registered
// asset (azureml:... but not an azureml:// URI, or a registry URI).
func IsRefString(s string) bool {
	return (strings.HasPrefix(s, armPrefix) && !strings.HasPrefix(s, "azureml://")) ||
		strings.HasPrefix(s, "azureml://registries/")
}
