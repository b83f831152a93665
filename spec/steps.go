package spec

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Sweep, automl, spark and parallel steps of pipelines, and the spark and
// parallel components such steps run. Tandem checks them as Azure's CLI
// does so that pipelines holding them validate, but cannot run them yet:
// submitting a pipeline with one is refused when the job is created, and
// such components are not registered on their own (componentDocument and
// jobDocument still reject these types).

// --- sweep

var (
	sweepLimits = obj(req("max_total_trials", intRange(1, 1<<31)), opt("max_concurrent_trials", intRange(1, 1<<31)),
		opt("timeout", intRange(1, 1<<31)), opt("trial_timeout", intRange(1, 1<<31)))

	sweepObjective = obj(req("goal", enum("maximize", "minimize")), req("primary_metric", nonEmpty))

	// sampling_algorithm is a name or a mapping with its settings.
	samplingAlgorithms = []string{"random", "grid", "bayesian"}
	samplingAlgorithm  = funcRule{what: "one of: random, grid, bayesian, or a mapping with type",
		fn: func(c *checker, n *node, field string) any {
			if n.kind == mapNode {
				return samplingAlgorithmSettings.check(c, n, field)
			}
			return enum(samplingAlgorithms...).check(c, n, field)
		}}
	samplingAlgorithmSettings = typed("a sampling algorithm", "", map[string]*objRule{
		"random":   obj(opt("seed", integer), opt("rule", enum("random", "sobol")), opt("logbase", scalarAny)),
		"grid":     obj(),
		"bayesian": obj(),
	}, nil)

	// searchSpace maps trial inputs to the distributions their values are
	// drawn from.
	searchSpace = &mapOfRule{keyPat: ioName, keyWhat: ioNameMsg, elem: typed("a distribution", "", map[string]*objRule{
		"choice":      obj(req("values", nonEmptyList)),
		"randint":     obj(req("upper", integer)),
		"uniform":     bounded(),
		"loguniform":  bounded(),
		"quniform":    bounded(req("q", number)),
		"qloguniform": bounded(req("q", number)),
		"normal":      obj(req("mu", number), req("sigma", number)),
		"lognormal":   obj(req("mu", number), req("sigma", number)),
		"qnormal":     obj(req("mu", number), req("sigma", number), req("q", number)),
		"qlognormal":  obj(req("mu", number), req("sigma", number), req("q", number)),
	}, nil)}

	earlyTermination = typed("an early termination policy", "", map[string]*objRule{
		"bandit": withAfter(obj(opt("slack_factor", number), opt("slack_amount", number),
			opt("evaluation_interval", intRange(0, 1<<31)), opt("delay_evaluation", intRange(0, 1<<31))), oneSlack),
		"median_stopping": obj(opt("evaluation_interval", intRange(0, 1<<31)), opt("delay_evaluation", intRange(0, 1<<31))),
		"truncation_selection": obj(req("truncation_percentage", intRange(1, 99)),
			opt("evaluation_interval", intRange(0, 1<<31)), opt("delay_evaluation", intRange(0, 1<<31)),
			opt("exclude_finished_jobs", boolean)),
	}, nil)
)

func withAfter(r *objRule, after func(c *checker, n *node, out map[string]any, field string)) *objRule {
	r.after = after
	return r
}

// bounded is a distribution between min_value and max_value.
func bounded(more ...field) *objRule {
	return withAfter(obj(append([]field{req("min_value", number), req("max_value", number)}, more...)...),
		func(c *checker, n *node, out map[string]any, field string) {
			lo, okLo := toFloat(out["min_value"])
			hi, okHi := toFloat(out["max_value"])
			if okLo && okHi && lo > hi {
				c.problem(n.get("min_value").value, join(field, "min_value"), "%v is more than max_value (%v)", out["min_value"], out["max_value"])
			}
		})
}

// oneSlack: a bandit policy has a slack_factor or a slack_amount.
func oneSlack(c *checker, n *node, out map[string]any, field string) {
	_, f := out["slack_factor"]
	_, a := out["slack_amount"]
	switch {
	case f && a:
		c.problem(n.get("slack_amount").value, join(field, "slack_amount"), "give either slack_factor or slack_amount, not both")
	case !f && !a && !present(n, "slack_factor") && !present(n, "slack_amount"):
		c.problem(n, field, "a bandit policy needs a slack_factor or a slack_amount")
	}
}

func sweepStep() *objRule {
	r := obj(stepFields(
		req("trial", assetOrRef(KindComponent, inlineComponent("command"), false, true)),
		opt("sampling_algorithm", samplingAlgorithm), opt("search_space", searchSpace),
		req("objective", sweepObjective), req("limits", sweepLimits), opt("early_termination", earlyTermination),
		opt("queue_settings", queueSettings), opt("resources", jobResources), opt("identity", jobIdentity),
		opt("experiment_name", str),
	)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		stepComponentType(c, n, out, field, "trial", "a sweep step's trial", "command")
		checkSampling(c, n, out, field)
	}
	return r
}

// checkSampling applies Azure's rules on what each sampling algorithm
// supports: grid only choice, bayesian only choice, uniform and quniform
// and no early termination.
func checkSampling(c *checker, n *node, out map[string]any, field string) {
	algo, _ := out["sampling_algorithm"].(string)
	if m, ok := out["sampling_algorithm"].(map[string]any); ok {
		algo, _ = m["type"].(string)
	}
	allowed := map[string][]string{"grid": {"choice"}, "bayesian": {"choice", "uniform", "quniform"}}[algo]
	space := n.get("search_space")
	if allowed != nil && space != nil && space.value.kind == mapNode {
		ss, _ := out["search_space"].(map[string]any)
		for _, e := range space.value.entries {
			d, _ := ss[e.key].(map[string]any)
			t, _ := d["type"].(string)
			if t == "" || contains(allowed, t) {
				continue
			}
			at := e.value
			if te := e.value.get("type"); te != nil {
				at = te.value
			}
			c.problem(at, join(field, "search_space."+e.key+".type"), "%s sampling supports only %s distributions, not %s",
				algo, strings.Join(allowed, ", "), t)
		}
	}
	if algo == "bayesian" && present(n, "early_termination") {
		c.problem(n.get("early_termination").value, join(field, "early_termination"), "bayesian sampling does not support early termination")
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// --- automl

// automlOutputs are the outputs every automl step has.
var automlOutputs = []string{"best_model"}

// automlData are the data fields of automl steps, which take bindings.
var automlData = []string{"training_data", "validation_data", "test_data"}

// automlDataRule is training, validation or test data: a binding, a
// registered data asset, or an mltable mapping.
var automlDataRule = funcRule{what: "a binding, azureml:NAME:VERSION or a mapping with type mltable and path",
	fn: func(c *checker, n *node, field string) any {
		if n.kind == mapNode {
			return obj(opt("type", enum("mltable")), req("path", dataPath("mltable", false)), opt("mode", inputModes),
				opt("description", str)).check(c, n, field)
		}
		s, ok := n.str()
		switch {
		case !ok || strings.TrimSpace(s) == "":
			c.problem(n, field, "must be a binding, azureml:NAME:VERSION or a mapping with type mltable and path, not %s", n.describe())
			return nil
		case hasExpr(s):
		case strings.HasPrefix(s, "azureml://registries/"):
			c.checkAzureMLURI(n, field, s)
		case IsRefString(s):
			c.addRef(n, field, KindData, s)
		default:
			c.problem(n, field, "%q must be a binding such as ${{parent.inputs.NAME}}, azureml:NAME:VERSION or a mapping with type mltable and path", s)
		}
		return s
	}}

var (
	classificationMetrics = []string{"accuracy", "auc_weighted", "norm_macro_recall", "average_precision_score_weighted", "precision_score_weighted"}
	regressionMetrics     = []string{"spearman_correlation", "normalized_root_mean_squared_error", "r2_score", "normalized_mean_absolute_error"}

	// automlTasks maps each task to its family and primary metrics (nil:
	// any metric name).
	automlTasks = map[string]struct {
		family  string
		metrics []string
	}{
		"classification":                  {"tabular", classificationMetrics},
		"regression":                      {"tabular", regressionMetrics},
		"forecasting":                     {"tabular", regressionMetrics},
		"image_classification":            {"image", classificationMetrics},
		"image_classification_multilabel": {"image", append(append([]string{}, classificationMetrics...), "iou")},
		"image_object_detection":          {"image", []string{"mean_average_precision"}},
		"image_instance_segmentation":     {"image", []string{"mean_average_precision"}},
		"text_classification":             {"nlp", classificationMetrics},
		"text_classification_multilabel":  {"nlp", nil},
		"text_ner":                        {"nlp", nil},
	}

	automlTraining = obj(opt("enable_dnn_training", boolean), opt("enable_model_explainability", boolean),
		opt("enable_onnx_compatible_models", boolean), opt("enable_stack_ensemble", boolean), opt("enable_vote_ensemble", boolean),
		opt("ensemble_model_download_timeout_minutes", intRange(1, 1<<31)), opt("stack_ensemble_settings", anyMap),
		opt("allowed_training_algorithms", listOf(nonEmpty)), opt("blocked_training_algorithms", listOf(nonEmpty)),
		opt("training_mode", enum("auto", "distributed", "non_distributed")))

	tableFeaturization = obj(opt("mode", enum("auto", "off", "custom")), opt("blocked_transformers", listOf(nonEmpty)),
		opt("column_name_and_types", stringMap), opt("transformer_params", anyMap), opt("enable_dnn_featurization", boolean),
		opt("dataset_language", str))

	automlLimits = map[string]*objRule{
		"tabular": obj(opt("enable_early_termination", boolean), opt("exit_score", number),
			opt("max_concurrent_trials", intRange(1, 1<<31)), opt("max_cores_per_trial", intRange(-1, 1<<31)),
			opt("max_nodes", intRange(1, 1<<31)), opt("max_trials", intRange(1, 1<<31)),
			opt("timeout_minutes", intRange(1, 1<<31)), opt("trial_timeout_minutes", intRange(1, 1<<31))),
		"image": obj(opt("max_concurrent_trials", intRange(1, 1<<31)), opt("max_trials", intRange(1, 1<<31)),
			opt("timeout_minutes", intRange(1, 1<<31))),
		"nlp": obj(opt("max_concurrent_trials", intRange(1, 1<<31)), opt("max_nodes", intRange(1, 1<<31)),
			opt("max_trials", intRange(1, 1<<31)), opt("timeout_minutes", intRange(1, 1<<31)),
			opt("trial_timeout_minutes", intRange(1, 1<<31))),
	}
)

func automlTaskNames() []string {
	var l []string
	for t := range automlTasks {
		l = append(l, t)
	}
	sort.Strings(l)
	return l
}

// automlStep is an automl step. Its fields depend on its task; the rule
// without a known task holds them all and reports the task.
func automlStep() *objRule {
	byTask := map[string]*objRule{}
	for t := range automlTasks {
		byTask[t] = automlTaskStep(t)
	}
	r := automlTaskStep("")
	r.variant = func(n *node) *objRule {
		if e := n.get("task"); e != nil {
			if s, ok := e.value.str(); ok {
				return byTask[strings.ToLower(s)]
			}
		}
		return nil
	}
	return r
}

// automlTaskStep is the rule for an automl step of task ("" for all).
func automlTaskStep(task string) *objRule {
	info := automlTasks[task]
	family := info.family
	metric := rule(str)
	if info.metrics != nil {
		metric = enum(info.metrics...)
	}
	fs := []field{
		opt("type", enum("automl")),
		opt("name", nameRule), opt("display_name", str), opt("description", str), opt("tags", tags),
		opt("properties", properties), opt("compute", computeRef), opt("experiment_name", str),
		opt("identity", jobIdentity), opt("outputs", ioMap(outputBinding)),
		opt("environment_id", str), opt("environment_variables", stringMap), opt("resources", jobResources),
		opt("queue_settings", queueSettings),
		req("task", enum(automlTaskNames()...)), opt("log_verbosity", enum("not_set", "debug", "info", "warning", "error", "critical")),
		opt("primary_metric", metric), req("target_column_name", nonEmpty),
		req("training_data", automlDataRule), opt("validation_data", automlDataRule),
	}
	all := family == ""
	if all || family == "tabular" {
		fs = append(fs, opt("test_data", automlDataRule), opt("test_data_size", number),
			opt("validation_data_size", number), opt("cv_split_column_names", listOf(nonEmpty)),
			opt("n_cross_validations", nCrossValidations), opt("weight_column_name", str),
			opt("training", automlTraining), opt("featurization", tableFeaturization))
	}
	if all || task == "classification" {
		fs = append(fs, opt("positive_label", scalarStrRule{}))
	}
	if all || task == "forecasting" {
		fs = append(fs, opt("forecasting", anyMap))
	}
	if all || family == "image" || family == "nlp" {
		fs = append(fs, opt("sweep", anyMap), opt("training_parameters", anyMap), opt("search_space", listOf(anyMap)))
	}
	if family == "nlp" {
		fs = append(fs, opt("featurization", obj(opt("dataset_language", str))))
	}
	switch {
	case all:
		fs = append(fs, opt("limits", anyMap))
	default:
		fs = append(fs, opt("limits", automlLimits[family]))
	}
	return obj(fs...)
}

// nCrossValidations is a number of folds or auto.
var nCrossValidations = funcRule{what: "an integer or auto", fn: func(c *checker, n *node, field string) any {
	if _, ok := n.str(); ok {
		return enum("auto").check(c, n, field)
	} else if _, isInt := n.value.(int64); n.kind == scalarNode && isInt {
		return intRange(2, 1000).check(c, n, field)
	}
	c.problem(n, field, "must be an integer or auto, not %s", n.describe())
	return nil
}}

// --- spark

var (
	sparkEntry = withAfter(obj(opt("file", nonEmpty), opt("class_name", nonEmpty)),
		func(c *checker, n *node, out map[string]any, field string) {
			_, f := out["file"]
			_, k := out["class_name"]
			switch {
			case f && k:
				c.problem(n.get("class_name").value, join(field, "class_name"), "give either file or class_name, not both")
			case !f && !k && !present(n, "file") && !present(n, "class_name"):
				c.problem(n, field, "an entry needs a file or a class_name")
			}
		})

	sparkFiles = funcRule{what: "a list of strings", fn: func(c *checker, n *node, field string) any {
		out := listOf(nonEmpty).check(c, n, field)
		seen := map[string]bool{}
		for i, it := range n.items {
			if s, ok := it.str(); ok && n.kind == seqNode {
				if seen[s] {
					c.problem(it, index(field, i), "%q is listed twice", s)
				}
				seen[s] = true
			}
		}
		return out
	}}

	sparkInstanceTypes = []string{"standard_e4s_v3", "standard_e8s_v3", "standard_e16s_v3", "standard_e32s_v3", "standard_e64s_v3"}
	sparkResources     = obj(opt("instance_type", enum(sparkInstanceTypes...)), opt("runtime_version", scalarStrRule{}))

	sparkMemory = strRule{pattern: regexp.MustCompile(`^[0-9]+[kKmMgGtTpP]$`), explain: "give a size such as 2g or 512m"}

	// sparkConfKeys are the Spark settings Azure reads itself; other
	// spark.* keys pass through.
	sparkConfKeys = map[string]rule{
		"spark.driver.cores":                   confInt(1),
		"spark.driver.memory":                  sparkMemory,
		"spark.executor.cores":                 confInt(1),
		"spark.executor.memory":                sparkMemory,
		"spark.executor.instances":             confInt(1),
		"spark.dynamicAllocation.enabled":      confBool,
		"spark.dynamicAllocation.minExecutors": confInt(1),
		"spark.dynamicAllocation.maxExecutors": confInt(1),
	}

	sparkConf = funcRule{what: "a mapping of Spark settings", fn: func(c *checker, n *node, field string) any {
		if n.kind != mapNode {
			c.problem(n, field, "must be a mapping of Spark settings, not %s", n.describe())
			return nil
		}
		out := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			r, known := sparkConfKeys[e.key]
			if !known {
				r = scalarAny
			}
			if v := r.check(c, e.value, join(field, e.key)); v != nil {
				out[e.key] = v
			}
		}
		return out
	}}
)

// confInt is a Spark setting holding an integer of at least lo, written as a
// number or a string.
func confInt(lo int64) rule {
	return funcRule{what: "an integer", fn: func(c *checker, n *node, field string) any {
		if s, ok := n.str(); ok && integerText.MatchString(s) {
			return s
		}
		return intRange(lo, 1<<31).check(c, n, field)
	}}
}

var confBool = funcRule{what: "true or false", fn: func(c *checker, n *node, field string) any {
	if s, ok := n.str(); ok && (strings.EqualFold(s, "true") || strings.EqualFold(s, "false")) {
		return s
	}
	return boolean.check(c, n, field)
}}

// scalarAny is any scalar value, kept as it is.
var scalarAny = funcRule{what: "a string, number or boolean", fn: func(c *checker, n *node, field string) any {
	if n.kind != scalarNode || n.isNull() {
		c.problem(n, field, "must be a string, number or boolean, not %s", n.describe())
		return nil
	}
	return plain(n)
}}

// sparkFields are the fields of a spark component and of a spark step
// without one.
func sparkFields() []field {
	return []field{
		opt("code", codeRule), opt("entry", sparkEntry), opt("py_files", sparkFiles), opt("jars", sparkFiles),
		opt("files", sparkFiles), opt("archives", sparkFiles), opt("conf", sparkConf),
		opt("environment", environment), opt("args", str),
	}
}

// checkSparkConf applies Azure's rules to the Spark settings in conf: the
// driver and executor sizes are required, with fixed executor instances or
// dynamic allocation between minExecutors and maxExecutors.
func checkSparkConf(c *checker, n *node, out map[string]any, field string) {
	conf, _ := out["conf"].(map[string]any)
	at, cf := n, field
	if e := n.get("conf"); e != nil && e.value.kind == mapNode {
		at, cf = e.value, join(field, "conf")
	}
	has := func(k string) bool { _, ok := conf[k]; return ok }
	var missing []string
	need := []string{"spark.driver.cores", "spark.driver.memory", "spark.executor.cores", "spark.executor.memory"}
	dynamic := false
	if v, ok := conf["spark.dynamicAllocation.enabled"]; ok {
		dynamic = v == true || (func() bool { s, _ := v.(string); return strings.EqualFold(s, "true") })()
	}
	if dynamic {
		need = append(need, "spark.dynamicAllocation.minExecutors", "spark.dynamicAllocation.maxExecutors")
	} else {
		need = append(need, "spark.executor.instances")
	}
	for _, k := range need {
		if !has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		mode := "without dynamic allocation"
		if dynamic {
			mode = "with dynamic allocation"
		}
		c.problem(at, cf, "missing Spark setting%s %s (required %s)", plural(len(missing)), quoteList(missing), mode)
	}
	lo, okLo := toInt(conf["spark.dynamicAllocation.minExecutors"])
	hi, okHi := toInt(conf["spark.dynamicAllocation.maxExecutors"])
	inst, okInst := toInt(conf["spark.executor.instances"])
	switch {
	case !dynamic && (has("spark.dynamicAllocation.minExecutors") || has("spark.dynamicAllocation.maxExecutors")):
		c.problem(at, cf, "spark.dynamicAllocation.minExecutors and maxExecutors go with spark.dynamicAllocation.enabled: true")
	case dynamic && okLo && okHi && lo > hi:
		c.problem(at, cf, "spark.dynamicAllocation.minExecutors (%d) is more than maxExecutors (%d)", lo, hi)
	case dynamic && okLo && okHi && okInst && (inst < lo || inst > hi):
		c.problem(at, cf, "spark.executor.instances (%d) must be between minExecutors (%d) and maxExecutors (%d)", inst, lo, hi)
	}
}

// checkSparkModes: Spark reads and writes data directly, so data inputs and
// outputs given with a mode must use direct.
func checkSparkModes(c *checker, n *node, field string) {
	for _, key := range []string{"inputs", "outputs"} {
		e := n.get(key)
		if e == nil || e.value.kind != mapNode {
			continue
		}
		for _, io := range e.value.entries {
			if io.value.kind != mapNode {
				continue
			}
			m := io.value.get("mode")
			if m == nil {
				continue
			}
			if s, ok := m.value.str(); ok && !strings.EqualFold(s, "direct") {
				c.problem(m.value, join(field, key+"."+io.key+".mode"), "%q is not allowed: Spark reads and writes data directly; use direct", s)
			}
		}
	}
}

func sparkComponent() *objRule {
	r := obj(append([]field{
		req("name", nameRule), opt("version", version), opt("display_name", str), opt("description", str),
		opt("tags", tags), opt("properties", properties), opt("is_deterministic", boolean),
		opt("inputs", ioMap(inputDecl)), opt("outputs", ioMap(nullable{outputDecl})),
	}, sparkFields()...)...)
	for i := range r.fields {
		if r.fields[i].name == "entry" {
			r.fields[i].required = true
		}
	}
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		if e := n.get("args"); e != nil {
			c.checkCommand(e.value, join(field, "args"), names(out["inputs"]), names(out["outputs"]))
		}
		checkSparkConf(c, n, out, field)
		checkSparkModes(c, n, field)
	}
	return r
}

func sparkStep() *objRule {
	r := obj(stepFields(append([]field{
		opt("component", assetOrRef(KindComponent, inlineComponent("spark"), false, true)),
		opt("resources", sparkResources), opt("identity", jobIdentity), opt("experiment_name", str),
	}, sparkFields()...)...)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		_, hasComponent := out["component"]
		_, hasEntry := out["entry"]
		switch {
		case !hasComponent && !hasEntry && !present(n, "component") && !present(n, "entry"):
			c.problem(n, field, "a spark step needs a component or an entry")
		case hasComponent && hasEntry:
			c.problem(n.get("entry").value, join(field, "entry"), "give either component or entry, not both")
		case hasEntry:
			if e := n.get("args"); e != nil {
				c.checkCommand(e.value, join(field, "args"), names(out["inputs"]), names(out["outputs"]))
			}
			checkSparkConf(c, n, out, field)
		}
		if present(n, "compute") && present(n, "resources") {
			c.problem(n.get("resources").value, join(field, "resources"), "give either compute (an attached Spark pool) or resources (serverless Spark), not both")
		}
		checkSparkModes(c, n, field)
		stepComponentType(c, n, out, field, "component", "a spark step", "spark")
	}
	return r
}

// --- parallel

var (
	retrySettings = obj(opt("max_retries", intRange(0, 1000)), opt("timeout", intRange(1, 1<<31)))

	parallelTask = typed("a parallel task", "run_function", map[string]*objRule{
		"run_function": obj(opt("code", codeRule), req("entry_script", nonEmpty), req("environment", environment),
			opt("program_arguments", str), opt("model", str), opt("append_row_to", str)),
	}, nil)

	// miniBatchSize is a number of files, or a size such as 10kb or 1mb for
	// tabular data.
	miniBatchText = regexp.MustCompile(`(?i)^[0-9]+\s*(kb|mb|gb)?$`)
	miniBatchSize = funcRule{what: "an integer or a size such as 10kb", fn: func(c *checker, n *node, field string) any {
		if s, ok := n.str(); ok {
			if !miniBatchText.MatchString(strings.TrimSpace(s)) {
				c.problem(n, field, "%q is not valid: give a number of files or a size such as 10kb, 1mb", s)
			}
			return s
		}
		return intRange(1, 1<<31).check(c, n, field)
	}}

	loggingLevel = enum("DEBUG", "INFO", "WARNING")
)

// parallelFields are the fields of a parallel component and of a parallel
// step without one.
func parallelFields() []field {
	return []field{
		opt("task", parallelTask), opt("mini_batch_size", miniBatchSize), opt("partition_keys", listOf(nonEmpty)),
		opt("input_data", nonEmpty), opt("resources", jobResources), opt("retry_settings", retrySettings),
		opt("max_concurrency_per_instance", intRange(1, 10000)), opt("error_threshold", intRange(-1, 1<<31)),
		opt("mini_batch_error_threshold", intRange(-1, 1<<31)), opt("logging_level", loggingLevel),
		opt("environment_variables", stringMap),
	}
}

// checkParallelExprs checks the expressions of a parallel task and its
// input_data against the inputs and outputs next to them.
func checkParallelExprs(c *checker, n *node, out map[string]any, field string) {
	in, outs := names(out["inputs"]), names(out["outputs"])
	if e := n.get("input_data"); e != nil {
		c.checkCommand(e.value, join(field, "input_data"), in, map[string]bool{})
	}
	t := n.get("task")
	if t == nil || t.value.kind != mapNode {
		return
	}
	if e := t.value.get("program_arguments"); e != nil {
		c.checkCommand(e.value, join(field, "task.program_arguments"), in, outs)
	}
	if e := t.value.get("append_row_to"); e != nil {
		c.checkCommand(e.value, join(field, "task.append_row_to"), map[string]bool{}, outs)
	}
}

func parallelComponent() *objRule {
	r := obj(append([]field{
		req("name", nameRule), opt("version", version), opt("display_name", str), opt("description", str),
		opt("tags", tags), opt("properties", properties), opt("is_deterministic", boolean),
		opt("inputs", ioMap(inputDecl)), opt("outputs", ioMap(nullable{outputDecl})),
	}, parallelFields()...)...)
	for i := range r.fields {
		if r.fields[i].name == "task" || r.fields[i].name == "input_data" {
			r.fields[i].required = true
		}
	}
	r.after = checkParallelExprs
	return r
}

func parallelStep() *objRule {
	r := obj(stepFields(append([]field{
		opt("component", assetOrRef(KindComponent, inlineComponent("parallel"), false, true)),
		opt("identity", jobIdentity), opt("experiment_name", str),
	}, parallelFields()...)...)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		_, hasComponent := out["component"]
		_, hasTask := out["task"]
		switch {
		case !hasComponent && !hasTask && !present(n, "component") && !present(n, "task"):
			c.problem(n, field, "a parallel step needs a component or a task")
		case hasComponent && hasTask:
			c.problem(n.get("task").value, join(field, "task"), "give either component or task, not both")
		case hasTask:
			if !present(n, "input_data") {
				c.problem(n, field, "missing required field \"input_data\" (a parallel step without a component needs one, such as ${{inputs.NAME}})")
			}
			checkParallelExprs(c, n, out, field)
		}
		stepComponentType(c, n, out, field, "component", "a parallel step", "parallel")
	}
	return r
}

// stepComponentType: the component under key of a step is of type want.
func stepComponentType(c *checker, n *node, out map[string]any, field, key, who, want string) {
	comp, ok := out[key].(map[string]any)
	if !ok {
		return
	}
	if t, _ := comp["type"].(string); t != "" && t != want {
		c.problem(n.get(key).value, join(field, key), "%s needs a %s component, not a %s component", who, want, t)
	}
}

// --- numbers

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		if i, err := strconv.ParseInt(strings.TrimPrefix(x, "+"), 10, 64); err == nil {
			return i, true
		}
	}
	return 0, false
}

var nonEmptyList = funcRule{what: "a list", fn: func(c *checker, n *node, field string) any {
	out := listOf(anyRule{}).check(c, n, field)
	if n.kind == seqNode && len(n.items) == 0 {
		c.problem(n, field, "must not be empty")
	}
	return out
}}
