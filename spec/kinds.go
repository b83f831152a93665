package spec

import (
	"net/url"
	"path"
	"sort"
	"strings"
)

// Kinds of documents (Document.Kind). The asset kinds equal the tandem.Kind
// strings of the resources they create.
const (
	KindModel            = "model"
	KindData             = "data"
	KindEnvironment      = "environment"
	KindComponent        = "component" // Type: command or pipeline
	KindDatastore        = "datastore" // Type: azure_blob, azure_data_lake_gen2, azure_file, local, s3
	KindJob              = "job"       // Type: command or pipeline
	KindCompute          = "compute"   // Type: amlcompute, computeinstance, virtualmachine
	KindOnlineEndpoint   = "online_endpoint"
	KindOnlineDeployment = "online_deployment"
	KindBatchEndpoint    = "batch_endpoint"
	KindBatchDeployment  = "batch_deployment"
)

// Kinds lists every kind, in the order docs and help texts show them.
var Kinds = []string{KindModel, KindData, KindEnvironment, KindComponent, KindDatastore, KindJob,
	KindCompute, KindOnlineEndpoint, KindOnlineDeployment, KindBatchEndpoint, KindBatchDeployment}

// kindType is what a schema name says about a document.
type kindType struct {
	kind, typ string
	// unsupported, when set, is why Tandem rejects documents of this schema.
	unsupported string
}

// schemas maps Azure's schema names (the file name of a $schema URL without
// .schema.json, as Azure spells it) to kinds and types. Names are matched
// case-insensitively.
var schemas = map[string]kindType{
	"model":                            {kind: KindModel},
	"data":                             {kind: KindData},
	"environment":                      {kind: KindEnvironment},
	"commandComponent":                 {kind: KindComponent, typ: "command"},
	"pipelineComponent":                {kind: KindComponent, typ: "pipeline"},
	"parallelComponent":                {kind: KindComponent, typ: "parallel"},
	"sparkComponent":                   {kind: KindComponent, typ: "spark"},
	"dataTransferComponent":            {kind: KindComponent, typ: "data_transfer"},
	"azureBlob":                        {kind: KindDatastore, typ: "azure_blob"},
	"azureDataLakeGen2":                {kind: KindDatastore, typ: "azure_data_lake_gen2"},
	"azureDataLakeGen1":                {kind: KindDatastore, typ: "azure_data_lake_gen1"},
	"azureFile":                        {kind: KindDatastore, typ: "azure_file"},
	"localDatastore":                   {kind: KindDatastore, typ: "local"},
	"s3Datastore":                      {kind: KindDatastore, typ: "s3"},
	"commandJob":                       {kind: KindJob, typ: "command"},
	"pipelineJob":                      {kind: KindJob, typ: "pipeline"},
	"sweepJob":                         {kind: KindJob, typ: "sweep"},
	"autoMLJob":                        {kind: KindJob, typ: "automl"},
	"sparkJob":                         {kind: KindJob, typ: "spark"},
	"parallelJob":                      {kind: KindJob, typ: "parallel"},
	"amlCompute":                       {kind: KindCompute, typ: "amlcompute"},
	"computeInstance":                  {kind: KindCompute, typ: "computeinstance"},
	"vmCompute":                        {kind: KindCompute, typ: "virtualmachine"},
	"kubernetesCompute":                {kind: KindCompute, typ: "kubernetes"},
	"synapseSparkCompute":              {kind: KindCompute, typ: "synapsespark"},
	"managedOnlineEndpoint":            {kind: KindOnlineEndpoint, typ: "managed"},
	"kubernetesOnlineEndpoint":         {kind: KindOnlineEndpoint, typ: "kubernetes", unsupported: "kubernetes online endpoints are not supported yet; use a managed online endpoint"},
	"managedOnlineDeployment":          {kind: KindOnlineDeployment, typ: "managed"},
	"kubernetesOnlineDeployment":       {kind: KindOnlineDeployment, typ: "kubernetes"},
	"batchEndpoint":                    {kind: KindBatchEndpoint},
	"batchDeployment":                  {kind: KindBatchDeployment},
	"modelBatchDeployment":             {kind: KindBatchDeployment, typ: "model"},
	"pipelineComponentBatchDeployment": {kind: KindBatchDeployment, typ: "pipeline"},
}

// Where $schema URLs live: Azure's, and Tandem's own for the datastore types
// Azure does not have.
const (
	azureSchemaBase  = "https://azuremlschemas.azureedge.net/latest/"
	tandemSchemaBase = "https://tandemml.github.io/schemas/latest/"
)

// schemaName returns the schema name of a $schema value: the last element
// of its path without .schema.json or .json.
func schemaName(s string) string {
	p := s
	if u, err := url.Parse(s); err == nil && u.Path != "" {
		p = u.Path
	}
	name := path.Base(strings.TrimSpace(p))
	name = strings.TrimSuffix(name, ".json")
	return strings.TrimSuffix(name, ".schema")
}

// lookupSchema finds a schema by name, case-insensitively.
func lookupSchema(name string) (kindType, string, bool) {
	for n, kt := range schemas {
		if strings.EqualFold(n, name) {
			return kt, n, true
		}
	}
	return kindType{}, "", false
}

// lookupKind reads an Options.Kind: a kind ("online_endpoint", also with
// '-' or as Azure's CLI group "online-endpoint") or a schema name.
func lookupKind(s string) (kindType, bool) {
	k := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	for _, kind := range Kinds {
		if k == kind {
			return kindType{kind: kind}, true
		}
	}
	kt, _, ok := lookupSchema(schemaName(s))
	return kt, ok
}

// SchemaURL returns the $schema URL for a kind and type, for writing YAML
// out; "" when there is none. Tandem's local and s3 datastores get a Tandem
// URL that Parse recognizes.
func SchemaURL(kind, typ string) string {
	name := schemaFor(kind, typ)
	if name == "" {
		name = schemaFor(kind, "")
	}
	switch {
	case name == "":
		return ""
	case kind == KindDatastore && (typ == "local" || typ == "s3"):
		return tandemSchemaBase + name + ".schema.json"
	}
	return azureSchemaBase + name + ".schema.json"
}

// schemaFor returns the name of the supported schema for exactly kind and typ.
func schemaFor(kind, typ string) string {
	for name, kt := range schemas {
		if kt.kind == kind && kt.typ == typ && kt.unsupported == "" {
			return name
		}
	}
	return ""
}

// schemaNames lists the known schema names, for messages.
func schemaNames() string {
	var l []string
	for n := range schemas {
		l = append(l, n)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// documentRule returns the rule for a whole document of kind.
func documentRule(kind string) rule {
	switch kind {
	case KindModel:
		return modelDocument()
	case KindData:
		return dataDocument()
	case KindEnvironment:
		return environmentRule()
	case KindComponent:
		return componentDocument()
	case KindDatastore:
		return datastoreDocument()
	case KindJob:
		return jobDocument()
	case KindCompute:
		return computeDocument()
	case KindOnlineEndpoint:
		return onlineEndpointDocument()
	case KindOnlineDeployment:
		return onlineDeploymentDocument()
	case KindBatchEndpoint:
		return batchEndpointDocument()
	case KindBatchDeployment:
		return batchDeploymentDocument()
	}
	return nil
}
