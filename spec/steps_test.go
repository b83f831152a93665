package spec

import (
	"path/filepath"
	"testing"
)

// Sweep, automl, spark and parallel steps of pipelines.

const (
	sparkComponentSchema    = "$schema: https://azuremlschemas.azureedge.net/latest/sparkComponent.schema.json\n"
	parallelComponentSchema = "$schema: https://azuremlschemas.azureedge.net/latest/parallelComponent.schema.json\n"

	// stepHead starts a pipeline with one step s; its fields start on line 5,
	// at column 5.
	stepHead = pipelineSchema + "type: pipeline\njobs:\n  s:\n"
	// dataHead is stepHead with a pipeline input d; fields start on line 9.
	dataHead = pipelineSchema + "type: pipeline\ninputs:\n  d:\n    type: mltable\n    path: table\njobs:\n  s:\n"

	sweepTail     = "    objective:\n      goal: minimize\n      primary_metric: loss\n    limits:\n      max_total_trials: 4\n"
	sparkConfYAML = "    conf:\n      spark.driver.cores: 1\n      spark.driver.memory: 2g\n      spark.executor.cores: 1\n      spark.executor.memory: 2g\n      spark.executor.instances: 1\n"
	parTask       = "    task:\n      code: ./src\n      entry_script: score.py\n      environment: azureml:e:1\n"
)

// stepFixture adds to fixture the components the step cases include.
var stepFixture = map[string]string{
	"comp/trial.yml": componentSchema + "name: trial\ncommand: python t.py --lr ${{inputs.lr}} --d ${{inputs.data}} --m ${{outputs.model}}\n" +
		"environment: azureml:e:1\ninputs:\n  lr:\n    type: number\n  data:\n    type: uri_folder\noutputs:\n  model:\n    type: mlflow_model\n",
	"comp/spark.yml": sparkComponentSchema + "name: sp\ncode: ../src\nentry:\n  file: main.py\nargs: --in ${{inputs.f}} --out ${{outputs.o}}\n" +
		"inputs:\n  f:\n    type: uri_file\n    mode: direct\noutputs:\n  o:\n    type: uri_folder\n    mode: direct\n" +
		"conf:\n  spark.driver.cores: 1\n  spark.driver.memory: 2g\n  spark.executor.cores: 2\n  spark.executor.memory: 2g\n" +
		"  spark.dynamicAllocation.enabled: true\n  spark.dynamicAllocation.minExecutors: 1\n  spark.dynamicAllocation.maxExecutors: 4\n",
	"comp/parallel.yml": parallelComponentSchema + "name: par\ninputs:\n  data:\n    type: uri_folder\noutputs:\n  out:\n    type: uri_folder\n" +
		"input_data: ${{inputs.data}}\nmini_batch_size: 1\ntask:\n  code: ../src\n  entry_script: score.py\n  environment: azureml:e:1\n  append_row_to: ${{outputs.out}}\n",
}

var stepBadCases = []badCase{
	// Sweep.
	{name: "SweepMinMax", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n    search_space:\n      lr:\n        type: uniform\n        min_value: 0.5\n        max_value: 0.1\n" + sweepTail,
		want: "12:20: jobs.s.search_space.lr.min_value: ", msg: "0.5 is more than max_value (0.1)"},
	{name: "SweepUnknownKey", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    samplng: random\n" + sweepTail,
		want: "7:5: jobs.s.samplng: ", msg: "unknown field; allowed fields are: compute, description, display_name, early_termination, experiment_name, identity, inputs, limits, name, objective, outputs, properties, queue_settings, resources, sampling_algorithm, search_space, tags, trial, type"},
	{name: "SweepMissingObjective", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n",
		want: "5:5: jobs.s: ", msg: `missing required fields "objective", "limits"`},
	{name: "SweepSearchNotInput", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n      lr: 0.1\n    search_space:\n      momentum:\n        type: choice\n        values: [0.9, 0.99]\n" + sweepTail,
		want: "11:7: jobs.s.search_space.momentum: ", msg: `the trial component has no input "momentum" to search over (it has: data, lr)`},
	{name: "SweepTrialInputUnbound", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n" + sweepTail,
		want: "5:5: jobs.s: ", msg: `the component's required input "lr" is not bound`},
	{name: "SweepGridNonChoice", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    sampling_algorithm: grid\n    inputs:\n      data: {type: uri_folder, path: data}\n    search_space:\n      lr:\n        type: uniform\n        min_value: 0.1\n        max_value: 0.5\n" + sweepTail,
		want: "12:15: jobs.s.search_space.lr.type: ", msg: "grid sampling supports only choice distributions, not uniform"},
	{name: "SweepBayesianEarlyTermination", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    sampling_algorithm: {type: bayesian}\n    early_termination:\n      type: median_stopping\n" + sweepTail,
		want: "9:7: jobs.s.early_termination: ", msg: "bayesian sampling does not support early termination"},
	{name: "SweepBadGoal", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    objective:\n      goal: lowest\n      primary_metric: loss\n    limits:\n      max_total_trials: 4\n",
		want: "8:13: jobs.s.objective.goal: ", msg: `"lowest" is not allowed; use one of: maximize, minimize`},
	{name: "SweepSamplingAlgorithm", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    sampling_algorithm: exhaustive\n" + sweepTail,
		want: "7:25: jobs.s.sampling_algorithm: ", msg: `"exhaustive" is not allowed; use one of: random, grid, bayesian`},
	{name: "SweepDistribution", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    search_space:\n      lr:\n        type: gaussian\n" + sweepTail,
		want: "9:15: jobs.s.search_space.lr.type: ", msg: `"gaussian" is not allowed; use one of: choice, lognormal, loguniform, normal, qlognormal`},
	{name: "SweepChoiceEmpty", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    search_space:\n      lr:\n        type: choice\n        values: []\n" + sweepTail,
		want: "10:17: jobs.s.search_space.lr.values: ", msg: "must not be empty"},
	{name: "SweepBandit", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    early_termination:\n      type: bandit\n      evaluation_interval: 1\n" + sweepTail,
		want: "8:7: jobs.s.early_termination: ", msg: "a bandit policy needs a slack_factor or a slack_amount"},
	{name: "SweepLimits", yaml: stepHead + "    type: sweep\n    trial: azureml:trial:1\n    objective:\n      goal: minimize\n      primary_metric: loss\n    limits:\n      max_concurrent_trials: 2\n",
		want: "11:7: jobs.s.limits: ", msg: `missing required field "max_total_trials"`},
	{name: "SweepTrialType", yaml: stepHead + "    type: sweep\n    trial: ./comp/spark.yml\n" + sweepTail,
		want: "6:12: jobs.s.trial: ", msg: "a sweep step's trial needs a command component, not a spark component"},
	{name: "SweepOutputOfTrial", yaml: stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n      lr: 0.1\n" + sweepTail +
		"  p:\n    command: echo ${{inputs.m}}\n    environment: azureml:e:1\n    inputs:\n      m: ${{parent.jobs.s.outputs.weights}}\n",
		want: "19:10: jobs.p.inputs.m: ", msg: `step "s" has no output "weights" (outputs: model)`},

	// AutoML.
	{name: "AutomlMetric", yaml: dataHead + "    type: automl\n    task: classification\n    primary_metric: r2_score\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n",
		want: "11:21: jobs.s.primary_metric: ", msg: `"r2_score" is not allowed; use one of: accuracy, auc_weighted`},
	{name: "AutomlMetricCase", yaml: dataHead + "    type: automl\n    task: Regression\n    primary_metric: Accuracy\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n",
		want: "11:21: jobs.s.primary_metric: ", msg: `"Accuracy" is not allowed; use one of: spearman_correlation`},
	{name: "AutomlTaskField", yaml: dataHead + "    type: automl\n    task: regression\n    positive_label: yes\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n",
		want: "11:5: jobs.s.positive_label: ", msg: "unknown field; allowed fields are: compute, cv_split_column_names, description"},
	{name: "AutomlImageField", yaml: dataHead + "    type: automl\n    task: image_object_detection\n    n_cross_validations: 3\n    target_column_name: label\n    training_data: ${{parent.inputs.d}}\n",
		want: "11:5: jobs.s.n_cross_validations: ", msg: "unknown field; allowed fields are:"},
	{name: "AutomlTask", yaml: dataHead + "    type: automl\n    task: clustering\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n",
		want: "10:11: jobs.s.task: ", msg: `"clustering" is not allowed; use one of: classification, forecasting, image_classification`},
	{name: "AutomlRequired", yaml: dataHead + "    type: automl\n    task: classification\n",
		want: "9:5: jobs.s: ", msg: `missing required fields "target_column_name", "training_data"`},
	{name: "AutomlBinding", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ${{parent.jobs.prep.outputs.train}}\n",
		want: "12:20: jobs.s.training_data: ", msg: `the pipeline has no step "prep" (steps: s)`},
	{name: "AutomlDataPath", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ./table\n",
		want: "12:20: jobs.s.training_data: ", msg: `"./table" must be a binding such as ${{parent.inputs.NAME}}`},
	{name: "AutomlDataMapping", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data:\n      type: uri_folder\n      path: table\n",
		want: "13:13: jobs.s.training_data.type: ", msg: `"uri_folder" is not allowed; use one of: mltable`},
	{name: "AutomlDataNoMLTable", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data:\n      type: mltable\n      path: data\n",
		want: "14:13: jobs.s.training_data.path: ", msg: "data has no MLTable file"},
	{name: "AutomlLimits", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n    limits:\n      max_trials: 0\n",
		want: "14:19: jobs.s.limits.max_trials: ", msg: "must be between 1 and"},
	{name: "AutomlImageLimits", yaml: dataHead + "    type: automl\n    task: image_classification\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n    limits:\n      exit_score: 0.9\n",
		want: "14:7: jobs.s.limits.exit_score: ", msg: "unknown field; allowed fields are: max_concurrent_trials, max_trials, timeout_minutes"},
	{name: "AutomlCrossValidations", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n    n_cross_validations: many\n",
		want: "13:26: jobs.s.n_cross_validations: ", msg: `"many" is not allowed; use one of: auto`},
	{name: "AutomlFeaturization", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n    featurization:\n      mode: manual\n",
		want: "14:13: jobs.s.featurization.mode: ", msg: `"manual" is not allowed; use one of: auto, off, custom`},
	{name: "AutomlUnknownOutput", yaml: dataHead + "    type: automl\n    task: classification\n    target_column_name: y\n    training_data: ${{parent.inputs.d}}\n" +
		"  r:\n    command: echo ${{inputs.m}}\n    environment: azureml:e:1\n    inputs:\n      m: ${{parent.jobs.s.outputs.model}}\n",
		want: "17:10: jobs.r.inputs.m: ", msg: `step "s" has no output "model" (outputs: best_model)`},

	// Spark.
	{name: "SparkArgs", yaml: stepHead + "    type: spark\n    code: ./src\n    entry:\n      file: main.py\n    args: --x ${{inputs.x}}\n" + sparkConfYAML,
		want: "9:15: jobs.s.args: ", msg: `${{inputs.x}} refers to an undeclared input "x" (declared: none)`},
	{name: "SparkMemory", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    conf:\n      spark.driver.cores: 1\n      spark.driver.memory: 2gb\n",
		want: "10:28: jobs.s.conf.spark.driver.memory: ", msg: `"2gb" is not valid: give a size such as 2g or 512m`},
	{name: "SparkCores", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    conf:\n      spark.driver.cores: 0\n",
		want: "9:27: jobs.s.conf.spark.driver.cores: ", msg: "must be between 1 and"},
	{name: "SparkConfValue", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    conf:\n      spark.sql.shuffle.partitions: [1]\n",
		want: "9:37: jobs.s.conf.spark.sql.shuffle.partitions: ", msg: "must be a string, number or boolean, not a list"},
	{name: "SparkMissingConf", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    conf:\n      spark.driver.cores: 1\n      spark.driver.memory: 2g\n",
		want: "9:7: jobs.s.conf: ", msg: `missing Spark settings "spark.executor.cores", "spark.executor.memory", "spark.executor.instances" (required without dynamic allocation)`},
	{name: "SparkNoConf", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n",
		want: "5:5: jobs.s: ", msg: `missing Spark settings "spark.driver.cores"`},
	{name: "SparkDynamicRange", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    conf:\n      spark.driver.cores: 1\n      spark.driver.memory: 2g\n      spark.executor.cores: 1\n      spark.executor.memory: 2g\n" +
		"      spark.dynamicAllocation.enabled: true\n      spark.dynamicAllocation.minExecutors: 5\n      spark.dynamicAllocation.maxExecutors: 2\n",
		want: "9:7: jobs.s.conf: ", msg: "spark.dynamicAllocation.minExecutors (5) is more than maxExecutors (2)"},
	{name: "SparkExecutorsWithoutDynamic", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n" + sparkConfYAML + "      spark.dynamicAllocation.maxExecutors: 2\n",
		want: "9:7: jobs.s.conf: ", msg: "go with spark.dynamicAllocation.enabled: true"},
	{name: "SparkNoEntry", yaml: stepHead + "    type: spark\n    code: ./src\n" + sparkConfYAML,
		want: "5:5: jobs.s: ", msg: "a spark step needs a component or an entry"},
	{name: "SparkEntryBoth", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n      class_name: Main\n" + sparkConfYAML,
		want: "8:19: jobs.s.entry.class_name: ", msg: "give either file or class_name, not both"},
	{name: "SparkEntryUnknown", yaml: stepHead + "    type: spark\n    entry:\n      script: main.py\n" + sparkConfYAML,
		want: "7:7: jobs.s.entry.script: ", msg: "unknown field; allowed fields are: class_name, file"},
	{name: "SparkDuplicateFile", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    py_files: [a.zip, a.zip]\n" + sparkConfYAML,
		want: "8:23: jobs.s.py_files[1]: ", msg: `"a.zip" is listed twice`},
	{name: "SparkInstanceType", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    resources:\n      instance_type: Standard_D2\n" + sparkConfYAML,
		want: "9:22: jobs.s.resources.instance_type: ", msg: `"Standard_D2" is not allowed; use one of: standard_e4s_v3`},
	{name: "SparkComputeAndResources", yaml: stepHead + "    type: spark\n    compute: azureml:pool\n    entry:\n      file: main.py\n    resources:\n      instance_type: standard_e4s_v3\n" + sparkConfYAML,
		want: "10:7: jobs.s.resources: ", msg: "give either compute (an attached Spark pool) or resources (serverless Spark), not both"},
	{name: "SparkMode", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    inputs:\n      f:\n        type: uri_file\n        path: data.csv\n        mode: ro_mount\n" + sparkConfYAML,
		want: "12:15: jobs.s.inputs.f.mode: ", msg: `"ro_mount" is not allowed: Spark reads and writes data directly; use direct`},
	{name: "SparkComponentType", yaml: stepHead + "    type: spark\n    component: ./comp/good.yml\n",
		want: "6:16: jobs.s.component: ", msg: "a spark step needs a spark component, not a command component"},
	{name: "SparkComponentAndEntry", yaml: stepHead + "    type: spark\n    component: ./comp/spark.yml\n    entry:\n      file: main.py\n",
		want: "8:7: jobs.s.entry: ", msg: "give either component or entry, not both"},
	{name: "SparkUnknownKey", yaml: stepHead + "    type: spark\n    entry:\n      file: main.py\n    main_class: x\n" + sparkConfYAML,
		want: "8:5: jobs.s.main_class: ", msg: "unknown field; allowed fields are: archives, args, code, component, compute, conf, description, display_name, entry, environment, experiment_name, files, identity, inputs, jars, name, outputs, properties, py_files, resources, tags, type"},
	{name: "CommandStepSparkComponent", yaml: stepHead + "    component: ./comp/spark.yml\n",
		want: "5:16: jobs.s.component: ", msg: "a command step needs a command component, not a spark component"},
	{name: "SparkComponentDocument", yaml: sparkComponentSchema + "name: sp\nentry:\n  file: main.py\n",
		want: "1:10: $schema: ", msg: "spark components are not supported yet"},

	// Parallel.
	{name: "ParallelMiniBatch", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    mini_batch_size: 10 kilobytes\n" + parTask,
		want: "9:22: jobs.s.mini_batch_size: ", msg: `"10 kilobytes" is not valid: give a number of files or a size such as 10kb, 1mb`},
	{name: "ParallelLoggingLevel", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    logging_level: verbose\n" + parTask,
		want: "9:20: jobs.s.logging_level: ", msg: `"verbose" is not allowed; use one of: DEBUG, INFO, WARNING`},
	{name: "ParallelInputData", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.nope}}\n" + parTask,
		want: "8:17: jobs.s.input_data: ", msg: `${{inputs.nope}} refers to an undeclared input "nope" (declared: data)`},
	{name: "ParallelAppendRow", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n" + parTask + "      append_row_to: ${{outputs.out}}\n",
		want: "13:22: jobs.s.task.append_row_to: ", msg: `${{outputs.out}} refers to an undeclared output "out" (declared: none)`},
	{name: "ParallelProgramArguments", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n" + parTask + "      program_arguments: >-\n        --model\n        ${{inputs.model}}\n",
		want: "15:9: jobs.s.task.program_arguments: ", msg: `${{inputs.model}} refers to an undeclared input "model" (declared: data)`},
	{name: "ParallelNoTask", yaml: stepHead + "    type: parallel\n    input_data: ${{inputs.data}}\n",
		want: "5:5: jobs.s: ", msg: "a parallel step needs a component or a task"},
	{name: "ParallelNoInputData", yaml: stepHead + "    type: parallel\n" + parTask,
		want: "5:5: jobs.s: ", msg: `missing required field "input_data"`},
	{name: "ParallelTaskEnvironment", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    task:\n      entry_script: score.py\n",
		want: "10:7: jobs.s.task: ", msg: `missing required field "environment"`},
	{name: "ParallelTaskUnknown", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n" + parTask + "      entry: x\n",
		want: "13:7: jobs.s.task.entry: ", msg: "unknown field; allowed fields are: append_row_to, code, entry_script, environment, model, program_arguments, type"},
	{name: "ParallelTaskType", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n" + parTask + "      type: function\n",
		want: "13:13: jobs.s.task.type: ", msg: `"function" is not allowed; use one of: run_function`},
	{name: "ParallelTaskCode", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    task:\n      code: ./nosrc\n      entry_script: score.py\n      environment: azureml:e:1\n",
		want: "10:13: jobs.s.task.code: ", msg: "./nosrc: no such file or directory"},
	{name: "ParallelErrorThreshold", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    error_threshold: -2\n" + parTask,
		want: "9:22: jobs.s.error_threshold: ", msg: "must be between -1 and"},
	{name: "ParallelRetry", yaml: stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    input_data: ${{inputs.data}}\n    retry_settings:\n      retries: 3\n" + parTask,
		want: "10:7: jobs.s.retry_settings.retries: ", msg: "unknown field; allowed fields are: max_retries, timeout"},
	{name: "ParallelComponentAndTask", yaml: stepHead + "    type: parallel\n    component: ./comp/parallel.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n" + parTask,
		want: "10:7: jobs.s.task: ", msg: "give either component or task, not both"},
	{name: "ParallelComponentInput", yaml: stepHead + "    type: parallel\n    component: ./comp/parallel.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n      extra: 1\n",
		want: "9:7: jobs.s.inputs.extra: ", msg: `the component has no input "extra" (it has: data)`},
	{name: "ParallelComponentDocument", yaml: parallelComponentSchema + "name: par\n",
		want: "1:10: $schema: ", msg: "parallel components are not supported yet"},

	// Standalone jobs of these types stay rejected.
	{name: "SparkJobDocument", yaml: "type: spark\nentry:\n  file: main.py\n", opts: Options{Kind: "job"},
		want: "1:7: type: ", msg: "spark jobs are not supported yet"},
	{name: "ParallelJobDocument", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/parallelJob.schema.json\ntask: {}\n",
		want: "1:10: $schema: ", msg: "parallel jobs are not supported yet"},
}

func TestStepRulesBad(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	writeTree(t, dir, stepFixture)
	for _, c := range stepBadCases {
		t.Run(c.name, func(t *testing.T) { runBad(t, dir, c) })
	}
}

// stepOkCases are pipelines with sweep, automl, spark and parallel steps
// that validate; each must also survive Marshal and Parse.
var stepOkCases = []struct{ name, yaml string }{
	{"Sweep", stepHead + "    type: sweep\n    trial: ./comp/trial.yml\n    sampling_algorithm:\n      type: random\n      seed: 7\n      rule: sobol\n" +
		"    inputs:\n      data: {type: uri_folder, path: data}\n    outputs:\n      model:\n" +
		"    search_space:\n      lr:\n        type: loguniform\n        min_value: -6\n        max_value: -1\n" +
		"    early_termination:\n      type: bandit\n      slack_factor: 0.1\n      evaluation_interval: 1\n" +
		"    objective:\n      goal: Maximize\n      primary_metric: accuracy\n    limits:\n      max_total_trials: 20\n      max_concurrent_trials: 4\n      timeout: 3600\n      trial_timeout: 600\n" +
		"  use:\n    command: echo ${{inputs.m}}\n    environment: azureml:e:1\n    inputs:\n      m: ${{parent.jobs.s.outputs.model}}\n"},
	{"SweepGridRegistered", stepHead + "    type: sweep\n    trial: azureml:trial@latest\n    sampling_algorithm: GRID\n" +
		"    search_space:\n      k:\n        type: choice\n        values: [1, 2, 3]\n" + sweepTail},
	{"SweepDistributions", stepHead + "    type: sweep\n    trial: azureml:trial:2\n    sampling_algorithm: random\n    search_space:\n" +
		"      a: {type: randint, upper: 10}\n      b: {type: quniform, min_value: 0, max_value: 10, q: 2}\n" +
		"      c: {type: normal, mu: 0, sigma: 1}\n      d: {type: qlognormal, mu: 0, sigma: 1, q: 1}\n" +
		"    early_termination: {type: truncation_selection, truncation_percentage: 20, exclude_finished_jobs: true}\n" + sweepTail},
	{"AutomlClassification", dataHead + "    type: automl\n    task: classification\n    primary_metric: AUC_weighted\n    log_verbosity: info\n" +
		"    target_column_name: y\n    positive_label: 1\n    training_data: ${{parent.inputs.d}}\n    validation_data_size: 0.2\n" +
		"    n_cross_validations: auto\n    limits:\n      timeout_minutes: 60\n      max_trials: 5\n      enable_early_termination: true\n" +
		"    training:\n      allowed_training_algorithms: [LightGBM, logistic_regression]\n      ensemble_model_download_timeout_minutes: 10\n" +
		"    featurization:\n      mode: custom\n      blocked_transformers: [WordEmbedding]\n      column_name_and_types: {age: Numeric}\n" +
		"  use:\n    command: echo ${{inputs.m}}\n    environment: azureml:e:1\n    inputs:\n      m: ${{parent.jobs.s.outputs.best_model}}\n"},
	{"AutomlRegressionInline", stepHead + "    type: automl\n    task: regression\n    primary_metric: r2_score\n    target_column_name: price\n" +
		"    training_data:\n      type: mltable\n      path: table\n    test_data: azureml:test-data:1\n    n_cross_validations: 5\n" +
		"    outputs:\n      best_model:\n        type: mlflow_model\n"},
	{"AutomlForecasting", stepHead + "    type: automl\n    task: forecasting\n    target_column_name: sales\n    training_data: {path: table}\n" +
		"    forecasting:\n      time_column_name: date\n      forecast_horizon: 14\n"},
	{"AutomlImage", stepHead + "    type: automl\n    task: image_object_detection\n    primary_metric: mean_average_precision\n    target_column_name: label\n" +
		"    training_data: {type: mltable, path: table}\n    limits: {max_trials: 10, timeout_minutes: 60}\n" +
		"    training_parameters: {early_stopping: true}\n    sweep: {sampling_algorithm: random}\n    search_space:\n      - model_name: {type: choice, values: [yolov5]}\n"},
	{"AutomlText", stepHead + "    type: automl\n    task: text_ner\n    target_column_name: label\n    training_data: {type: mltable, path: table}\n" +
		"    featurization: {dataset_language: eng}\n    limits: {max_nodes: 2, trial_timeout_minutes: 30}\n"},
	{"SparkInline", pipelineSchema + "type: pipeline\ninputs:\n  f: {type: uri_file, path: data.csv, mode: direct}\noutputs:\n  o: {type: uri_folder, mode: direct}\njobs:\n  s:\n" +
		"    type: spark\n    code: ./src\n    entry:\n      file: main.py\n    py_files: [a.zip]\n    jars: [b.jar]\n    files: [c.txt]\n    archives: [d.tar.gz]\n" +
		"    inputs:\n      f: ${{parent.inputs.f}}\n    outputs:\n      o: ${{parent.outputs.o}}\n" +
		"    args: >-\n      --in ${{inputs.f}} --out ${{outputs.o}}\n      $[[--opt ${{inputs.f}}]]\n" +
		"    identity:\n      type: user_identity\n    resources:\n      instance_type: Standard_E4S_V3\n      runtime_version: 3.4\n" +
		"    conf:\n      spark.driver.cores: \"1\"\n      spark.driver.memory: 2g\n      spark.executor.cores: 2\n      spark.executor.memory: 4G\n" +
		"      spark.dynamicAllocation.enabled: True\n      spark.dynamicAllocation.minExecutors: 1\n      spark.dynamicAllocation.maxExecutors: 4\n" +
		"      spark.executor.instances: 2\n      spark.sql.shuffle.partitions: 64\n    environment: azureml:spark-env:1\n"},
	{"SparkClassEntry", stepHead + "    type: spark\n    compute: azureml:attached-pool\n    entry:\n      class_name: com.example.Main\n    jars: [app.jar]\n" + sparkConfYAML},
	{"SparkComponent", stepHead + "    type: spark\n    component: ./comp/spark.yml\n    inputs:\n      f: {type: uri_file, path: data.csv, mode: direct}\n" +
		"    outputs:\n      o: {type: uri_folder, mode: direct}\n    resources: {instance_type: standard_e8s_v3, runtime_version: \"3.4\"}\n"},
	{"SparkRegisteredComponent", stepHead + "    type: spark\n    component: azureml:sp:1\n    resources: {instance_type: standard_e8s_v3}\n"},
	{"ParallelInline", stepHead + "    type: parallel\n    compute: azureml:cpu\n    inputs:\n      data: {type: mltable, path: table, mode: direct}\n      model: {type: uri_folder, path: data}\n" +
		"    outputs:\n      out: {type: uri_file, mode: rw_mount}\n    input_data: ${{inputs.data}}\n    mini_batch_size: 5\n    partition_keys: [region]\n" +
		"    resources: {instance_count: 2}\n    max_concurrency_per_instance: 4\n    error_threshold: -1\n    mini_batch_error_threshold: 3\n    logging_level: warning\n" +
		"    retry_settings: {max_retries: 3, timeout: 120}\n    environment_variables: {A: 1}\n" + parTask +
		"      program_arguments: --model ${{inputs.model}} --out ${{outputs.out}}\n      append_row_to: ${{outputs.out}}\n"},
	{"ParallelComponent", stepHead + "    type: parallel\n    component: ./comp/parallel.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n    mini_batch_size: 1mb\n"},
	{"ParallelInlineComponent", stepHead + "    type: parallel\n    inputs:\n      data: {type: uri_folder, path: data}\n    component:\n      type: parallel\n" +
		"      inputs: {data: {type: uri_folder}}\n      input_data: ${{inputs.data}}\n      task: {entry_script: s.py, environment: azureml:e:1}\n"},
}

func TestStepRulesOK(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	writeTree(t, dir, stepFixture)
	for _, c := range stepOkCases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, "t.yml")
			d, err := Parse([]byte(c.yaml), file, Options{})
			if err != nil {
				t.Fatalf("got\n%v\nwant ok", err)
			}
			if d.Kind != KindJob || d.Type != "pipeline" {
				t.Fatalf("got %s/%s, want job/pipeline", d.Kind, d.Type)
			}
			checkRoundTrip(t, d, file, Options{})
			// The server checks the same document without the filesystem.
			if _, err := Parse([]byte(c.yaml), file, Options{NoFS: true}); err != nil {
				t.Fatalf("NoFS: got %v, want ok", err)
			}
		})
	}
}

// TestStepTypesKept: the step type is filled in where Azure assumes it and
// kept as written otherwise, so a job's submission can name it.
func TestStepTypesKept(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	writeTree(t, dir, stepFixture)
	d, err := Parse([]byte(stepHead+"    type: Parallel\n    component: ./comp/parallel.yml\n    inputs:\n      data: {type: uri_folder, path: data}\n"),
		filepath.Join(dir, "t.yml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	step := d.Fields["jobs"].(map[string]any)["s"].(map[string]any)
	if step["type"] != "parallel" {
		t.Fatalf("step type %v, want parallel", step["type"])
	}
	if comp := step["component"].(map[string]any); comp["type"] != "parallel" {
		t.Fatalf("component type %v, want parallel (from its $schema)", comp["type"])
	}
}
