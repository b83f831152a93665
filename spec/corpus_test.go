package spec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem/spec/internal/corpustest"
)

// corpusDir is Azure's example YAML, kept beside the repository.
const corpusDir = "../../shared/azureml-corpus"

var updateDocs = flag.Bool("update-docs", false, "rewrite the corpus table in docs/compatibility.md")

// corpusCase is the expected outcome for one YAML file of the corpus.
type corpusCase struct {
	file string // relative to the corpus's cli/ folder
	kind string // Options.Kind, for files without $schema
	// ok is "kind" or "kind/type" when the file validates.
	ok string
	// reject is a fragment of the problem when Tandem rejects the file.
	reject string
	// other says what the file is when it is not an Azure ML document of a
	// kind (a conda specification read through another document).
	other string
}

const conda = "conda specification (read through conda_file)"

// Azure's data import and schedule documents (`az ml data import`, `az ml
// schedule create`) are kinds Tandem does not have yet: their schemas are
// unknown to it (docs/compatibility.md, job).
const (
	dataImport = `unknown schema "http://azureml/sdk-2-0/DataImport.json"`
	schedule   = `unknown schema "http://azureml/sdk-2-0/Schedule.json"`
)

// corpusCases lists every YAML file of the corpus, in path order. A file
// added to or removed from the corpus, or an outcome that changes in either
// direction, fails TestCorpus.
var corpusCases = []corpusCase{
	{file: "assets/component/component_additional_includes.yml", ok: "component/command"},
	{file: "assets/component/pipeline.yml", ok: "component/pipeline"},
	{file: "assets/component/train.yml", ok: "component/command"},
	{file: "assets/data/azure-sql-import.yml", reject: dataImport},
	{file: "assets/data/cloud-file.yml", ok: "data/uri_file"},
	{file: "assets/data/cloud-folder-wasbs.yml", ok: "data/uri_folder"},
	{file: "assets/data/data_import_schedule_database_inline.yml", reject: schedule},
	{file: "assets/data/local-file.yml", ok: "data/uri_file"},
	{file: "assets/data/local-folder.yml", ok: "data/uri_folder"},
	{file: "assets/data/local-mltable.yml", ok: "data/mltable"},
	{file: "assets/data/s3-import.yml", reject: dataImport},
	{file: "assets/data/simple_import_schedule.yml", reject: schedule},
	{file: "assets/data/snowflake-import-managed.yml", reject: dataImport},
	{file: "assets/data/snowflake-import.yml", reject: dataImport},
	{file: "assets/environment/conda-yamls/pydata.yml", other: conda},
	{file: "assets/environment/docker-context.yml", ok: "environment"},
	{file: "assets/environment/docker-image-plus-conda.yaml", ok: "environment"},
	{file: "assets/environment/docker-image.yml", ok: "environment"},
	{file: "assets/model/local-file.yml", ok: "model/custom_model"},
	{file: "assets/model/local-mlflow.yml", ok: "model/mlflow_model"},
	{file: "assets/model/mlflow-model/conda.yaml", other: conda},
	{file: "endpoints/batch/deploy-models/heart-classifier-mlflow/deployment-simple/deployment.yml", ok: "batch_deployment/model"},
	{file: "endpoints/batch/deploy-models/heart-classifier-mlflow/deployment-simple/model/conda.yaml", other: conda},
	{file: "endpoints/batch/deploy-models/mnist-classifier/deployment-keras/environment/conda.yaml", other: conda},
	{file: "endpoints/batch/deploy-models/mnist-classifier/deployment-torch/deployment.yml", ok: "batch_deployment/model"},
	{file: "endpoints/batch/deploy-models/mnist-classifier/deployment-torch/environment/conda.yaml", other: conda},
	{file: "endpoints/batch/deploy-models/mnist-classifier/endpoint.yml", ok: "batch_endpoint"},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/components/score/score.yml", ok: "component/command"},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/deployment.yml", ok: "batch_deployment/pipeline"},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/environment/conda.yml", other: conda},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/inputs.yml", other: "inputs and outputs of a batch endpoint invocation (`az ml batch-endpoint invoke --file`)"},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/model/conda.yaml", other: conda},
	{file: "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/pipeline.yml", ok: "component/pipeline"},
	{file: "endpoints/batch/deploy-pipelines/hello-batch/deployment.yml", ok: "batch_deployment/pipeline"},
	{file: "endpoints/batch/deploy-pipelines/hello-batch/endpoint.yml", ok: "batch_endpoint"},
	{file: "endpoints/batch/deploy-pipelines/hello-batch/hello-component/hello.yml", ok: "component/pipeline"},
	{file: "endpoints/online/kubernetes/kubernetes-blue-deployment.yml", reject: "kubernetes online deployments are not supported yet"},
	{file: "endpoints/online/kubernetes/kubernetes-endpoint.yml", reject: "kubernetes online endpoints are not supported yet"},
	{file: "endpoints/online/managed/managed-identities/1-uai-create-endpoint.yml", ok: "online_endpoint/managed"},
	{file: "endpoints/online/managed/managed-identities/2-sai-deployment.yml", ok: "online_deployment/managed"},
	{file: "endpoints/online/managed/sample/blue-deployment-with-registered-assets.yml", ok: "online_deployment/managed"},
	{file: "endpoints/online/managed/sample/blue-deployment.yml", ok: "online_deployment/managed"},
	{file: "endpoints/online/managed/sample/endpoint.yml", ok: "online_endpoint/managed"},
	{file: "endpoints/online/managed/vnet/sample/blue-deployment-vnet.yml", ok: "online_deployment/managed"},
	{file: "endpoints/online/managed/vnet/sample/endpoint.yml", ok: "online_endpoint/managed"},
	{file: "endpoints/online/managed/vnet/sample/environment/conda.yaml", other: conda},
	{file: "endpoints/online/model-1/environment/conda-managedidentity.yaml", other: conda},
	{file: "endpoints/online/model-1/environment/conda.yaml", other: conda},
	{file: "endpoints/online/ncd/lightgbm-iris/model/conda.yaml", other: conda},
	{file: "endpoints/online/ncd/sklearn-deployment.yaml", ok: "online_deployment/managed"},
	{file: "endpoints/online/ncd/sklearn-diabetes/environment/conda.yaml", other: conda},
	{file: "endpoints/online/ncd/sklearn-diabetes/model/conda.yaml", other: conda},
	{file: "jobs/basics/hello-automl/hello-automl-job-basic.yml", reject: "type: automl jobs are not supported yet"},
	{file: "jobs/basics/hello-data-uri-folder.yml", ok: "job/command"},
	{file: "jobs/basics/hello-iris-datastore-file.yml", ok: "job/command"},
	{file: "jobs/basics/hello-iris-literal.yml", ok: "job/command"},
	{file: "jobs/basics/hello-model-as-input.yml", ok: "job/command"},
	{file: "jobs/basics/hello-model-as-output.yml", ok: "job/command"},
	{file: "jobs/basics/hello-pipeline-abc.yml", ok: "job/pipeline"},
	{file: "jobs/basics/hello-pipeline-customize-output-file.yml", ok: "job/pipeline"},
	{file: "jobs/basics/hello-pipeline-default-artifacts.yml", ok: "job/pipeline"},
	{file: "jobs/basics/hello-sweep.yml", reject: "type: sweep jobs (hyperparameter tuning) are not supported yet"},
	{file: "jobs/basics/hello-world-input.yml", ok: "job/command"},
	{file: "jobs/basics/hello-world.yml", ok: "job/command"},
	{file: "jobs/pipelines-with-components/basics/1a_e2e_local_components/eval.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/1a_e2e_local_components/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/basics/1a_e2e_local_components/score.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/1a_e2e_local_components/train.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/1b_e2e_registered_components/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/basics/1b_e2e_registered_components/train.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/4b_datastore_datapath_uri/component-file.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/4b_datastore_datapath_uri/component-folder.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/4b_datastore_datapath_uri/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/basics/5c_env_conda_file/component.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/basics/5c_env_conda_file/conda.yaml", other: conda},
	{file: "jobs/pipelines-with-components/basics/5c_env_conda_file/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/predict.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/train.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/compare2/compare2.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/eval/eval.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/score/score.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/train/train.yml", ok: "component/command"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/train_pipeline_component.yml", ok: "component/pipeline"},
	{file: "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines-with-components/shakespear_sample_and_word_count_using_spark/sample_word/component.yml", reject: "type: spark components are not supported yet"},
	{file: "jobs/pipelines/add-column-and-word-count-using-spark/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines/automl/cli-automl-classification-task-bankmarketing-pipeline/components/component_preprocessing.yaml", ok: "component/command"},
	{file: "jobs/pipelines/automl/cli-automl-classification-task-bankmarketing-pipeline/components/component_register_model.yaml", ok: "component/command"},
	{file: "jobs/pipelines/automl/cli-automl-classification-task-bankmarketing-pipeline/environment/preprocessing_env.yaml", other: conda},
	{file: "jobs/pipelines/automl/cli-automl-classification-task-bankmarketing-pipeline/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines/cifar-10/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines/iris-batch-prediction-using-parallel/environment/environment_parallel.yml", other: conda},
	{file: "jobs/pipelines/iris-batch-prediction-using-parallel/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/pipelines/nyc-taxi/pipeline.yml", ok: "job/pipeline"},
	{file: "jobs/single-step/dask/nyctaxi/conda.yaml", other: conda},
	{file: "jobs/single-step/dask/nyctaxi/job.yml", ok: "job/command"},
	{file: "jobs/single-step/gpu_perf/environments/azureml/env.yml", ok: "environment"},
	{file: "jobs/single-step/gpu_perf/gpu_perf_job.yml", kind: "job", ok: "job/command"},
	{file: "jobs/single-step/lightgbm/iris/job-sweep.yml", reject: "type: sweep jobs (hyperparameter tuning) are not supported yet"},
	{file: "jobs/single-step/lightgbm/iris/job.yml", ok: "job/command"},
	{file: "jobs/single-step/on-behalf-of/environment/conda.yml", other: conda},
	{file: "jobs/single-step/on-behalf-of/job.yaml", kind: "job", ok: "job/command"},
	{file: "jobs/single-step/scikit-learn/iris/job-docker-context.yml", ok: "job/command"},
	{file: "jobs/single-step/tensorflow/mnist-distributed/job.yml", ok: "job/command"},
	// The attached Spark pools have a placeholder name; with --set name=... each
	// validates as compute/synapsespark and registers as a record.
	{file: "resources/compute/attached-spark-system-identity.yml", kind: "compute", reject: `name: "<ATTACHED_SPARK_POOL_NAME>" is not valid`},
	{file: "resources/compute/attached-spark-user-identity.yml", kind: "compute", reject: `name: "<ATTACHED_SPARK_POOL_NAME>" is not valid`},
	{file: "resources/compute/attached-spark.yml", kind: "compute", reject: `name: "<ATTACHED_SPARK_POOL_NAME>" is not valid`},
	{file: "resources/compute/cluster-basic.yml", ok: "compute/amlcompute"},
	{file: "resources/compute/cluster-minimal.yml", ok: "compute/amlcompute"},
	{file: "resources/compute/cluster-user-identity.yml", ok: "compute/amlcompute"},
	{file: "resources/compute/instance-schedule.yml", ok: "compute/computeinstance"},
	{file: "resources/compute/vm-attach.yml", ok: "compute/virtualmachine"},
	{file: "resources/datastore/adls-gen2.yml", ok: "datastore/azure_data_lake_gen2"},
	{file: "resources/datastore/blob-credless.yml", ok: "datastore/azure_blob"},
	{file: "resources/datastore/blob-sas.yml", ok: "datastore/azure_blob"},
	{file: "resources/datastore/blob.yml", ok: "datastore/azure_blob"},
	{file: "resources/datastore/file.yml", ok: "datastore/azure_file"},
}

func (c corpusCase) kindType(d *Document) string {
	if d.Type == "" {
		return d.Kind
	}
	return d.Kind + "/" + d.Type
}

func TestCorpus(t *testing.T) {
	dir := corpustest.Copy(t, corpusDir)
	files := corpustest.Files(t, dir)
	cases := map[string]corpusCase{}
	for _, c := range corpusCases {
		cases[c.file] = c
	}
	for _, f := range files {
		if _, ok := cases[f]; !ok {
			t.Errorf("%s: a corpus file with no expected outcome in corpusCases", f)
		}
		delete(cases, f)
	}
	for f := range cases {
		t.Errorf("%s: in corpusCases but not in the corpus", f)
	}
	for _, c := range corpusCases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, filepath.FromSlash(c.file))
			d, err := Load(path, Options{Kind: c.kind})
			switch {
			case c.ok != "":
				if err != nil {
					t.Fatalf("got error\n%v\nwant ok (%s)", err, c.ok)
				}
				if got := c.kindType(d); got != c.ok {
					t.Fatalf("got %s, want %s", got, c.ok)
				}
				checkRoundTrip(t, d, path, Options{Kind: c.kind})
			case c.reject != "":
				if err == nil || !strings.Contains(err.Error(), c.reject) {
					t.Fatalf("got %v, want a problem containing %q", err, c.reject)
				}
				checkProblems(t, err)
			default:
				if err == nil || !strings.Contains(err.Error(), "it has no $schema") {
					t.Fatalf("got %v, want it not taken for a document (%s)", err, c.other)
				}
			}
		})
	}
}

// checkProblems asserts that err is Problems, each with a file and a message.
func checkProblems(t *testing.T, err error) {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("got %T %v, want Problems", err, err)
	}
	for _, p := range ps {
		if p.File == "" || p.Message == "" {
			t.Fatalf("problem %+v lacks a file or a message", p)
		}
	}
}

// checkRoundTrip writes d's fields with Marshal and parses them back, as
// `show -o yaml` then `create -f` would, in the same directory.
func checkRoundTrip(t *testing.T, d *Document, path string, opts Options) {
	t.Helper()
	fields := map[string]any{"$schema": SchemaURL(d.Kind, d.Type)}
	for k, v := range d.Fields {
		fields[k] = v
	}
	out, err := Marshal(fields)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	again, err := Parse(out, filepath.Join(filepath.Dir(path), "roundtrip.yml"), Options{})
	if err != nil {
		t.Fatalf("parse of Marshal output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(again.Fields, d.Fields) {
		t.Fatalf("round trip changed the fields\nfirst:  %#v\nsecond: %#v\nYAML:\n%s", d.Fields, again.Fields, out)
	}
	if again.Kind != d.Kind || again.Type != d.Type {
		t.Fatalf("round trip: got %s/%s, want %s/%s", again.Kind, again.Type, d.Kind, d.Type)
	}
}

// corpusTable renders corpusCases as the Markdown table of
// docs/compatibility.md.
func corpusTable() string {
	var b strings.Builder
	b.WriteString("| file | outcome |\n| --- | --- |\n")
	for _, c := range corpusCases {
		var outcome string
		switch {
		case c.ok != "" && c.kind != "":
			outcome = fmt.Sprintf("ok (%s; no $schema: `--kind %s`)", c.ok, c.kind)
		case c.ok != "":
			outcome = fmt.Sprintf("ok (%s)", c.ok)
		case c.reject != "":
			outcome = "rejected: " + c.reject
		default:
			outcome = "not a document: " + c.other
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", c.file, outcome)
	}
	return b.String()
}

// corpusCounts sums the outcomes for the summary line of the doc.
func corpusCounts() string {
	var ok, rejected, other int
	for _, c := range corpusCases {
		switch {
		case c.ok != "":
			ok++
		case c.reject != "":
			rejected++
		default:
			other++
		}
	}
	return fmt.Sprintf("%d files: %d validate, %d are rejected with a message naming the unsupported feature, %d are not Azure ML documents of a kind.\n",
		len(corpusCases), ok, rejected, other)
}

const (
	tableStart = "<!-- corpus-table:start (generated by go test ./spec -run TestCompatibilityDoc -update-docs) -->\n"
	tableEnd   = "<!-- corpus-table:end -->\n"
)

// TestCompatibilityDoc keeps the corpus table of docs/compatibility.md in
// step with corpusCases.
func TestCompatibilityDoc(t *testing.T) {
	const doc = "../docs/compatibility.md"
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i, j := strings.Index(text, tableStart), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no corpus table markers", doc)
	}
	want := corpusCounts() + "\n" + corpusTable()
	got := text[i+len(tableStart) : j]
	if got == want {
		return
	}
	if !*updateDocs {
		t.Fatalf("the corpus table in %s is out of date; run go test ./spec -run TestCompatibilityDoc -update-docs", doc)
	}
	text = text[:i+len(tableStart)] + want + text[j:]
	if err := os.WriteFile(doc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
