// Package corpustest gives tests a working copy of Azure's example YAML
// (the corpus kept beside the repository), with stub files for what its
// documents point at but the corpus leaves out.
package corpustest

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// stubs are the files the corpus's YAML points at but the corpus leaves
// out (scripts, Dockerfiles, model and data files), relative to its cli/
// folder; a trailing / makes a directory, which gets a small script.
func stubs() []string {
	return []string{
		"assets/component/common_src/", "assets/component/component_src/", "assets/component/train_src/",
		"assets/data/sample-data/titanic.csv",
		"assets/environment/docker-contexts/python-and-pip/Dockerfile",
		"assets/model/mlflow-model/model.pkl",
		"endpoints/batch/deploy-models/mnist-classifier/deployment-torch/code/",
		"endpoints/batch/deploy-models/mnist-classifier/deployment-torch/model/",
		"endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing/components/score/src/",
		"endpoints/batch/deploy-pipelines/hello-batch/hello-component/src/",
		"endpoints/online/managed/vnet/sample/model/sklearn_regression_model.pkl",
		"endpoints/online/managed/vnet/sample/onlinescoring/",
		"endpoints/online/model-1/model/", "endpoints/online/model-1/onlinescoring/",
		"jobs/basics/src/",
		"jobs/pipelines-with-components/basics/1a_e2e_local_components/eval_src/",
		"jobs/pipelines-with-components/basics/1a_e2e_local_components/score_src/",
		"jobs/pipelines-with-components/basics/1a_e2e_local_components/train_src/",
		"jobs/pipelines-with-components/basics/1b_e2e_registered_components/train_src/",
		"jobs/pipelines-with-components/basics/4b_datastore_datapath_uri/src/",
		"jobs/pipelines-with-components/basics/5c_env_conda_file/src/",
		"jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/predict-src/",
		"jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/train-src/",
		"jobs/pipelines/automl/cli-automl-classification-task-bankmarketing-pipeline/components/src/",
		"jobs/pipelines/cifar-10/src/train-model/", "jobs/pipelines/cifar-10/src/eval-model/",
		"jobs/pipelines/iris-batch-prediction-using-parallel/script/",
		"jobs/pipelines/nyc-taxi/data/", "jobs/pipelines/nyc-taxi/src/prep/", "jobs/pipelines/nyc-taxi/src/transform/",
		"jobs/pipelines/nyc-taxi/src/train/", "jobs/pipelines/nyc-taxi/src/predict/", "jobs/pipelines/nyc-taxi/src/score/",
		"jobs/single-step/dask/nyctaxi/src/",
		"jobs/single-step/gpu_perf/environments/azureml/Dockerfile", "jobs/single-step/gpu_perf/src/",
		"jobs/single-step/lightgbm/iris/src/", "jobs/single-step/on-behalf-of/src/",
		"jobs/single-step/scikit-learn/iris/docker-context/Dockerfile", "jobs/single-step/scikit-learn/iris/src/",
		"jobs/single-step/tensorflow/mnist-distributed/src/",
	}
}

// Copy copies the cli/ folder of the corpus at root to a temporary
// directory and adds the stubs. It skips the test when the corpus is not
// there.
func Copy(t testing.TB, root string) string {
	t.Helper()
	src := filepath.Join(root, "cli")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("corpus not found at %s: %v", src, err)
	}
	dst := filepath.Join(t.TempDir(), "cli")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	for _, s := range stubs() {
		p := filepath.Join(dst, filepath.FromSlash(s))
		if strings.HasSuffix(s, "/") {
			p = filepath.Join(p, "main.py")
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("print('stub')\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// Files lists the YAML files under dir, relative and slash-separated, in
// path order.
func Files(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}
