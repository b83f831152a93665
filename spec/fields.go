package spec

import (
	"os"
	"path/filepath"
	"regexp"
)

// The field tables below describe each kind of document as Azure's CLI v2
// schemas do, limited to what Tandem supports. Functions return fresh rules
// because typed() adds each variant's `type` key to it.

var (
	nameRule = strRule{pattern: assetName, explain: assetNameMsg}
	// Azure allows only letters, digits and '_' in datastore names.
	datastoreName = strRule{pattern: regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`),
		explain: "use letters, digits and '_', at most 255 characters"}
	// Endpoint names become host names: a letter, then letters, digits and '-'.
	endpointName = strRule{pattern: regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{2,31}$`),
		explain: "use 3 to 32 letters, digits and '-', starting with a letter"}
	deploymentName = strRule{pattern: regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`),
		explain: "use up to 32 letters, digits and '-', starting with a letter"}
	// Compute names in Azure: letters, digits and '-', starting with a letter.
	computeName = strRule{pattern: regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,23}$`),
		explain: "use 2 to 24 letters, digits and '-', starting with a letter"}

	tags       = mapOf(scalarStrRule{})
	properties = mapOf(scalarStrRule{})
	stringMap  = mapOf(scalarStrRule{})
	anyMap     = mapOf(anyRule{})
	version    = versionRule{}
	nonEmpty   = strRule{nonEmpty: true}
)

// Data and model types.
var (
	dataTypes  = []string{"uri_file", "uri_folder", "mltable"}
	modelTypes = []string{"custom_model", "mlflow_model", "triton_model"}
	// primitiveTypes are the input types that hold a literal value.
	primitiveTypes = []string{"string", "integer", "number", "boolean"}
)

// assetFields are the fields every versioned asset has.
func assetFields(more ...field) []field {
	return append([]field{
		req("name", nameRule), opt("version", version), opt("description", str),
		opt("tags", tags), opt("properties", properties),
	}, more...)
}

// dataRule is a data asset of type typ.
func dataRule(typ string) *objRule {
	return obj(assetFields(
		req("path", dataPath(typ, true)),
		opt("stage", str), opt("auto_delete_setting", anyMap),
	)...)
}

// dataPath is where the data of a data type lives: a file for uri_file, a
// folder otherwise (holding an MLTable file for mltable); cloud URIs and,
// where refs is set, references to registered data are allowed too.
func dataPath(typ string, docLevel bool) pathRule {
	r := pathRule{uris: true}
	switch typ {
	case "uri_file":
		r.shape = mustBeFile
	case "uri_folder":
		r.shape = mustBeDir
	case "mltable":
		r.shape, r.contains = mustBeDir, "MLTable"
	case "mlflow_model":
		r.shape, r.contains = mustBeDir, "MLmodel"
	case "triton_model":
		r.shape = mustBeDir
	}
	if !docLevel {
		r.refKind = KindData
		for _, m := range modelTypes {
			if typ == m {
				r.refKind = KindModel
			}
		}
	}
	return r
}

func modelRule(typ string) *objRule {
	return obj(assetFields(
		req("path", dataPath(typ, true)),
		opt("flavors", anyMap), opt("stage", str), opt("job_name", str),
	)...)
}

// dataDocument and modelDocument choose the rule by type; Azure's defaults
// are uri_folder and custom_model.
func dataDocument() *typedRule {
	return typed("a data asset", "uri_folder", map[string]*objRule{
		"uri_file": dataRule("uri_file"), "uri_folder": dataRule("uri_folder"), "mltable": dataRule("mltable"),
	}, nil)
}

func modelDocument() *typedRule {
	return typed("a model", "custom_model", map[string]*objRule{
		"custom_model": modelRule("custom_model"), "mlflow_model": modelRule("mlflow_model"),
		"triton_model": modelRule("triton_model"),
	}, nil)
}

// inlineModel is a model written inside a deployment: name and version are
// optional there.
func inlineModel() rule {
	return typed("a model", "custom_model", map[string]*objRule{
		"custom_model": optionalName(modelRule("custom_model")), "mlflow_model": optionalName(modelRule("mlflow_model")),
		"triton_model": optionalName(modelRule("triton_model")),
	}, nil)
}

// optionalName makes a document rule's name optional, for anonymous inline
// assets.
func optionalName(r *objRule) *objRule {
	for i, f := range r.fields {
		if f.name == "name" {
			r.fields[i].required = false
		}
	}
	return r
}

// route is an inference server route of an environment.
var route = obj(opt("port", intRange(1, 65535)), opt("path", str))

// environmentRule is an environment: a Docker image (with an optional conda
// file on top) or a Docker build context.
func environmentRule() *objRule {
	r := obj(assetFields(
		opt("image", nonEmpty),
		opt("conda_file", condaFile),
		opt("build", obj(req("path", pathRule{shape: mustBeDir, uris: true}), opt("dockerfile_path", str))),
		opt("os_type", enum("linux", "windows")),
		opt("inference_config", obj(opt("liveness_route", route), opt("readiness_route", route), opt("scoring_route", route))),
		opt("stage", str), opt("display_name", str),
	)...)
	r.after = checkEnvironment
	return r
}

func inlineEnvironment() rule { return optionalName(environmentRule()) }

// condaFile is a conda specification: a path to a YAML file (its content is
// read when the environment is created) or the specification inline.
var condaFile = funcRule{what: "a path to a conda YAML file or an inline conda mapping",
	fn: func(c *checker, n *node, field string) any {
		if n.kind == mapNode {
			return plain(n)
		}
		return pathRule{shape: mustBeFile}.check(c, n, field)
	}}

// checkEnvironment: exactly one of image and build; a conda file goes with an
// image; a Dockerfile path must exist in a local build context.
func checkEnvironment(c *checker, n *node, out map[string]any, field string) {
	_, hasImage := out["image"]
	_, hasBuild := out["build"]
	switch {
	case hasImage && hasBuild:
		c.problem(n.get("build").value, join(field, "build"), "give either image or build, not both")
	case !hasImage && !hasBuild && !present(n, "image") && !present(n, "build"):
		c.problem(n, field, "an environment needs an image or a build context (build.path)")
	case hasBuild && present(n, "conda_file"):
		c.problem(n.get("conda_file").value, join(field, "conda_file"), "conda_file goes with image; with build, install packages in the Dockerfile")
	}
	checkDockerfile(c, n, field)
}

// checkDockerfile checks that the Dockerfile of a local build context exists.
func checkDockerfile(c *checker, n *node, field string) {
	b := n.get("build")
	if c.opts.NoFS || b == nil || b.value.kind != mapNode {
		return
	}
	p := b.value.get("path")
	if p == nil {
		return
	}
	raw, ok := p.value.str()
	if !ok || raw == "" || uriScheme(raw) != "" || hasExpr(raw) {
		return
	}
	name, at := "Dockerfile", p.value
	if d := b.value.get("dockerfile_path"); d != nil {
		if s, ok := d.value.str(); ok && s != "" {
			name, at = s, d.value
		}
	}
	df := filepath.Join(c.resolve(p.value, raw), filepath.FromSlash(name))
	if info, err := os.Stat(df); err != nil || info.IsDir() {
		c.problem(at, join(field, "build.dockerfile_path"), "%s has no file %s (the Dockerfile of the build context)", raw, name)
	}
}

// Datastores. Credentials are checked for shape only; callers move them to
// the workspace vault.
var (
	accountKeyOrSAS  = obj(opt("account_key", nonEmpty), opt("sas_token", nonEmpty))
	servicePrincipal = obj(req("tenant_id", nonEmpty), req("client_id", nonEmpty), req("client_secret", nonEmpty),
		opt("authority_url", str), opt("resource_url", str))
	s3Credentials = obj(req("access_key_id", nonEmpty), req("secret_access_key", nonEmpty))
)

func datastoreFields(more ...field) *objRule {
	return obj(append([]field{
		req("name", datastoreName), opt("description", str), opt("tags", tags), opt("properties", properties),
	}, more...)...)
}

func datastoreDocument() *typedRule {
	blob := datastoreFields(req("account_name", nonEmpty), req("container_name", nonEmpty),
		opt("endpoint", str), opt("protocol", enum("https", "wasbs")), opt("credentials", accountKeyOrSAS),
		opt("service_data_access_auth_identity", enum("none", "workspace_system_assigned_identity", "workspace_user_assigned_identity")))
	blob.after = oneCredential
	file := datastoreFields(req("account_name", nonEmpty), req("file_share_name", nonEmpty),
		opt("endpoint", str), opt("protocol", enum("https")), opt("credentials", accountKeyOrSAS))
	file.after = oneCredential
	return typed("a datastore", "", map[string]*objRule{
		"azure_blob": blob,
		"azure_data_lake_gen2": datastoreFields(req("account_name", nonEmpty), req("filesystem", nonEmpty),
			opt("endpoint", str), opt("protocol", enum("https", "abfss")), opt("credentials", servicePrincipal)),
		"azure_file": file,
		// Tandem's own: a directory on the server host, and S3 or an
		// S3-compatible store.
		"local": datastoreFields(req("path", strRule{pattern: regexp.MustCompile(`^/`),
			explain: "give an absolute path on the server host"})),
		"s3": datastoreFields(req("bucket", strRule{pattern: regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`),
			explain: "use 3 to 63 lower-case letters, digits, '.' and '-'"}),
			opt("endpoint", strRule{pattern: regexp.MustCompile(`^https?://`), explain: "give an http:// or https:// URL"}),
			opt("region", str), opt("prefix", str), opt("credentials", s3Credentials)),
	}, map[string]string{
		"azure_data_lake_gen1": "azure_data_lake_gen1 datastores are not supported (Azure retired Data Lake Storage Gen1)",
		"one_lake":             "one_lake datastores are not supported yet",
	})
}

// oneCredential: account_key and sas_token exclude each other.
func oneCredential(c *checker, n *node, out map[string]any, field string) {
	cred, ok := out["credentials"].(map[string]any)
	if !ok {
		return
	}
	_, key := cred["account_key"]
	_, sas := cred["sas_token"]
	if key && sas {
		c.problem(n.get("credentials").value, join(field, "credentials"), "give either account_key or sas_token, not both")
	}
}
