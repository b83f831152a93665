package spec

import "testing"

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want Ref
	}{
		{"azureml:my-model:3", true, Ref{Name: "my-model", Version: "3"}},
		{"azureml:my-model@latest", true, Ref{Name: "my-model", Label: "latest"}},
		{"azureml:my-model@prod", true, Ref{Name: "my-model", Label: "prod"}},
		{"azureml:my-model", true, Ref{Name: "my-model", Label: "latest"}},
		{"my_env:1.2", true, Ref{Name: "my_env", Version: "1.2"}},
		{"my_env@latest", true, Ref{Name: "my_env", Label: "latest"}},
		{"azureml:AzureML-sklearn-1.5@latest", true, Ref{Name: "AzureML-sklearn-1.5", Label: "latest"}},
		{"azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/3", true,
			Ref{Kind: KindModel, Name: "m", Version: "3"}},
		{"/subscriptions/s/resourcegroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e", true,
			Ref{Kind: KindEnvironment, Name: "e", Label: "latest"}},
		{"azureml://registries/azureml/environments/sklearn-1.5/labels/latest", true,
			Ref{Kind: KindEnvironment, Name: "sklearn-1.5", Label: "latest", Registry: "azureml"}},
		{"azureml://registries/shared/components/train/versions/2", true,
			Ref{Kind: KindComponent, Name: "train", Version: "2", Registry: "shared"}},
		{"plain-name", false, Ref{}},
		{"azureml:", false, Ref{}},
		{"azureml:m:", false, Ref{}},
		{"azureml:m@", false, Ref{}},
		{"azureml:-bad:1", false, Ref{}},
		{"azureml:m:1 2", false, Ref{}},
		{"./local/path", false, Ref{}},
		{"C:\\data", false, Ref{}},
		{"azureml://datastores/ws/paths/x", false, Ref{}},
		{"https://example.com/x", false, Ref{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseRef(tt.in)
			if ok != tt.ok {
				t.Fatalf("got ok=%v, want %v (%+v)", ok, tt.ok, got)
			}
			if !ok {
				return
			}
			tt.want.Raw = tt.in
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseDatastoreURI(t *testing.T) {
	tests := []struct {
		in, ds, path string
		ok           bool
	}{
		{"azureml://datastores/workspaceblobstore/paths/example-data/titanic.csv", "workspaceblobstore", "example-data/titanic.csv", true},
		{"azureml://datastores/ds/paths/", "ds", "", true},
		{"azureml://datastores/ds/paths", "ds", "", true},
		{"azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/ds/paths/a/b", "ds", "a/b", true},
		{"azureml://subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/datastores/ds/paths/a", "ds", "a", true},
		{"azureml://datastores/ds", "", "", false},
		{"azureml://jobs/j/outputs/o/paths/x", "", "", false},
		{"wasbs://c@a.blob.core.windows.net/x", "", "", false},
	}
	for _, tt := range tests {
		ds, p, ok := ParseDatastoreURI(tt.in)
		if ds != tt.ds || p != tt.path || ok != tt.ok {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, %v)", tt.in, ds, p, ok, tt.ds, tt.path, tt.ok)
		}
	}
}

func TestSchemaURL(t *testing.T) {
	tests := []struct{ kind, typ, want string }{
		{KindModel, "custom_model", azureSchemaBase + "model.schema.json"},
		{KindData, "uri_file", azureSchemaBase + "data.schema.json"},
		{KindEnvironment, "", azureSchemaBase + "environment.schema.json"},
		{KindComponent, "command", azureSchemaBase + "commandComponent.schema.json"},
		{KindComponent, "pipeline", azureSchemaBase + "pipelineComponent.schema.json"},
		{KindDatastore, "azure_blob", azureSchemaBase + "azureBlob.schema.json"},
		{KindDatastore, "s3", tandemSchemaBase + "s3Datastore.schema.json"},
		{KindDatastore, "local", tandemSchemaBase + "localDatastore.schema.json"},
		{KindJob, "command", azureSchemaBase + "commandJob.schema.json"},
		{KindJob, "pipeline", azureSchemaBase + "pipelineJob.schema.json"},
		{KindCompute, "amlcompute", azureSchemaBase + "amlCompute.schema.json"},
		{KindOnlineEndpoint, "managed", azureSchemaBase + "managedOnlineEndpoint.schema.json"},
		{KindOnlineDeployment, "managed", azureSchemaBase + "managedOnlineDeployment.schema.json"},
		{KindBatchEndpoint, "", azureSchemaBase + "batchEndpoint.schema.json"},
		{KindBatchDeployment, "model", azureSchemaBase + "modelBatchDeployment.schema.json"},
		{KindBatchDeployment, "pipeline", azureSchemaBase + "pipelineComponentBatchDeployment.schema.json"},
		{"gadget", "", ""},
	}
	for _, tt := range tests {
		if got := SchemaURL(tt.kind, tt.typ); got != tt.want {
			t.Errorf("SchemaURL(%s, %s) = %q, want %q", tt.kind, tt.typ, got, tt.want)
		}
		if tt.want == "" {
			continue
		}
		// Every URL SchemaURL writes is one Parse reads back to its kind.
		kt, _, ok := lookupSchema(schemaName(tt.want))
		if !ok || kt.kind != tt.kind {
			t.Errorf("%s: read back as %+v", tt.want, kt)
		}
	}
}
