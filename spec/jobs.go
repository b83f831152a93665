package spec

import (
	"regexp"
	"sort"
	"strings"
)

// Components, command jobs and pipelines: their inputs and outputs, the
// steps of pipelines and the checks across them.

var (
	// Input and output names are identifiers, as Azure requires.
	ioName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)
	ioNameMsg = "use letters, digits and '_', not starting with a digit"
	stepName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)

	inputModes  = enum("ro_mount", "rw_mount", "download", "direct", "eval_mount", "eval_download")
	outputModes = enum("rw_mount", "upload", "direct")
	ioTypes     = inputTypeRule{enum(append(append(append([]string{}, dataTypes...), modelTypes...), primitiveTypes...)...)}
	outputTypes = enum(append(append([]string{}, dataTypes...), modelTypes...)...)

	// computeRef names a compute target: azureml:NAME, NAME, local, or a
	// binding in a pipeline.
	computeRef = strRule{nonEmpty: true}
)

// LegacyInputType returns what Azure reads an input type of older YAML
// as: `path` is uri_folder. Other types are returned as they are.
func LegacyInputType(t string) string {
	if strings.EqualFold(t, "path") {
		return "uri_folder"
	}
	return t
}

// inputTypeRule is the enum of input types, also taking the legacy type
// `path`, which it reads as uri_folder.
type inputTypeRule struct{ enumRule }

func (r inputTypeRule) check(c *checker, n *node, field string) any {
	if s, ok := n.str(); ok && LegacyInputType(s) != s {
		return LegacyInputType(s)
	}
	return r.enumRule.check(c, n, field)
}

func isPrimitive(t string) bool {
	for _, p := range primitiveTypes {
		if t == p {
			return true
		}
	}
	return false
}

// ioMap is a mapping of input or output names.
func ioMap(elem rule) *mapOfRule {
	return &mapOfRule{elem: elem, keyPat: ioName, keyWhat: ioNameMsg}
}

// inputDecl declares an input of a component.
var inputDecl = func() rule {
	r := obj(req("type", ioTypes), opt("description", str), opt("default", anyRule{}), opt("optional", boolean),
		opt("min", number), opt("max", number), opt("enum", listOf(anyRule{})), opt("mode", inputModes))
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		typ, _ := out["type"].(string)
		d := n.get("default")
		if d == nil || d.value.isNull() || typ == "" {
			return
		}
		if !isPrimitive(typ) {
			c.problem(d.value, join(field, "default"), "a %s input cannot have a default; bind it in the job instead", typ)
			return
		}
		if !literalFits(d.value, typ) {
			c.problem(d.value, join(field, "default"), "must be a %s value, not %s", typ, d.value.describe())
		}
	}
	return r
}()

var (
	integerText = regexp.MustCompile(`^[-+]?[0-9]+$`)
	numberText  = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// literalFits reports whether a scalar suits a primitive input type. Strings
// that read as numbers or booleans fit too: Azure's own YAML writes
// `default: 1e-3`, which YAML 1.1 readers take as a string.
func literalFits(n *node, typ string) bool {
	if n.kind != scalarNode {
		return false
	}
	switch v := n.value.(type) {
	case string:
		switch typ {
		case "string":
			return true
		case "integer":
			return integerText.MatchString(v)
		case "number":
			return numberText.MatchString(v)
		case "boolean":
			return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
		}
	case int64:
		return typ == "integer" || typ == "number" || typ == "string"
	case float64:
		return typ == "number" || typ == "string"
	case bool:
		return typ == "boolean" || typ == "string"
	}
	return false
}

// outputDecl declares an output of a component.
var outputDecl = obj(opt("type", outputTypes), opt("description", str), opt("mode", outputModes),
	opt("is_control", boolean), opt("early_available", boolean))

// nullable wraps a rule whose null value is kept: an output or input with
// nothing under it is still declared.
type nullable struct{ rule }

func (nullable) nullable() {}

func (r nullable) check(c *checker, n *node, field string) any {
	if n.isNull() {
		return nil
	}
	return r.rule.check(c, n, field)
}

// inputBinding is the value of a job's input: a literal, a binding
// expression, or a mapping naming data.
var inputBinding = nullable{funcRule{what: "a value or a mapping with type and path",
	fn: func(c *checker, n *node, field string) any {
		if n.kind == seqNode {
			c.problem(n, field, "must be a value or a mapping with type and path, not a list")
			return nil
		}
		if n.kind == scalarNode {
			return plain(n)
		}
		typ := "uri_folder"
		if t := n.get("type"); t != nil {
			if s, ok := t.value.str(); ok {
				typ = LegacyInputType(strings.ToLower(s))
			}
		} else if p := n.get("path"); p != nil {
			// Untyped, a long-form model reference (a registry or ARM
			// id) is a model, of Azure's default model type.
			if s, ok := p.value.str(); ok {
				if ref, isRef := ParseRef(s); isRef && ref.Kind == KindModel {
					typ = "custom_model"
				}
			}
		}
		r := obj(opt("type", ioTypes), opt("path", dataPath(typ, false)), opt("mode", inputModes),
			opt("value", anyRule{}), opt("default", anyRule{}), opt("description", str), opt("optional", boolean),
			opt("datastore", str), opt("path_on_compute", str))
		return r.check(c, n, field)
	}}}

// outputBinding is the value of a job's output: nothing (defaults), a
// binding expression, or a mapping saying where and how to write it.
var outputBinding = nullable{funcRule{what: "nothing, a binding or a mapping with type, mode and path",
	fn: func(c *checker, n *node, field string) any {
		if s, ok := n.str(); ok {
			if !hasExpr(s) {
				c.problem(n, field, "must be a binding such as ${{parent.outputs.NAME}} or a mapping, not %q", s)
			}
			return s
		}
		r := obj(opt("type", outputTypes), opt("mode", outputModes),
			opt("path", pathRule{uris: true, shape: fileOrDir, refKind: ""}), opt("name", nameRule),
			opt("version", version), opt("description", str), opt("datastore", str), opt("path_on_compute", str),
			opt("early_available", boolean))
		r.after = func(c *checker, n *node, out map[string]any, field string) {
			p, ok := out["path"].(string)
			if ok && !hasExpr(p) && uriScheme(p) == "" {
				c.problem(n.get("path").value, join(field, "path"), "an output goes to a datastore: use azureml://datastores/NAME/paths/PATH")
			}
		}
		return r.check(c, n, field)
	}}}

// Shared pieces of commands.
var (
	codeRule = pathRule{uris: true, refKind: "code"}

	distribution = typed("a distribution", "", map[string]*objRule{
		"pytorch":    obj(opt("process_count_per_instance", intRange(1, 1024))),
		"mpi":        obj(opt("process_count_per_instance", intRange(1, 1024))),
		"tensorflow": obj(opt("worker_count", intRange(0, 1024)), opt("parameter_server_count", intRange(0, 1024))),
		"ray": obj(opt("port", intRange(1, 65535)), opt("address", str), opt("include_dashboard", boolean),
			opt("dashboard_port", intRange(1, 65535)), opt("head_node_additional_args", str), opt("worker_node_additional_args", str)),
	}, nil)

	jobResources = obj(opt("instance_count", intRange(1, 10000)), opt("instance_type", str), opt("shm_size", str),
		opt("properties", anyMap), opt("docker_args", str), opt("locations", listOf(str)), opt("max_instance_count", intRange(1, 10000)))

	jobIdentity = typed("an identity", "", map[string]*objRule{
		"user_identity": obj(),
		"aml_token":     obj(),
		"managed":       obj(opt("client_id", str), opt("object_id", str), opt("msi_resource_id", str)),
	}, nil)

	services = mapOf(obj(req("type", enum("jupyter_lab", "ssh", "tensor_board", "vs_code")), opt("nodes", str),
		opt("log_dir", str), opt("ssh_public_keys", str), opt("port", intRange(1, 65535)), opt("properties", anyMap)))

	queueSettings = obj(opt("job_tier", enum("null", "spot", "basic", "standard", "premium")),
		opt("priority", enum("low", "medium", "high")))

	limits = obj(opt("timeout", intRange(1, 1<<31)))

	environment = assetOrRef(KindEnvironment, inlineEnvironment, true, false)
)

// commandCheck checks a command's expressions against the inputs and
// outputs next to it.
func commandCheck(c *checker, n *node, out map[string]any, field string) {
	if e := n.get("command"); e != nil {
		c.checkCommand(e.value, join(field, "command"), names(out["inputs"]), names(out["outputs"]))
	}
}

// commandComponent is a component of type command.
func commandComponent() *objRule {
	r := obj(
		req("name", nameRule), opt("version", version), opt("display_name", str), opt("description", str),
		opt("tags", tags), opt("properties", properties), opt("is_deterministic", boolean),
		opt("inputs", ioMap(inputDecl)), opt("outputs", ioMap(nullable{outputDecl})),
		req("command", nonEmpty), opt("code", codeRule), req("environment", environment),
		opt("resources", jobResources), opt("distribution", distribution), opt("environment_variables", stringMap),
		opt("additional_includes", listOf(pathRule{})), opt("instance_count", intRange(1, 10000)),
	)
	r.after = commandCheck
	return r
}

// pipelineComponent is a component of type pipeline.
func pipelineComponent() *objRule {
	r := obj(
		req("name", nameRule), opt("version", version), opt("display_name", str), opt("description", str),
		opt("tags", tags), opt("properties", properties), opt("is_deterministic", boolean),
		opt("inputs", ioMap(inputDecl)), opt("outputs", ioMap(nullable{outputDecl})),
		req("jobs", steps()),
	)
	r.after = pipelineCheck
	return r
}

// unsupportedComponents and unsupportedJobs name the types Tandem rejects.
var (
	unsupportedComponents = map[string]string{
		"parallel":      "parallel components are not supported yet",
		"spark":         "spark components are not supported yet",
		"data_transfer": "data_transfer components are not supported yet",
		"import":        "import components are not supported yet",
		"flow_parallel": "flow components are not supported yet",
	}
	unsupportedJobs = map[string]string{
		"sweep":         "sweep jobs (hyperparameter tuning) are not supported yet",
		"automl":        "automl jobs are not supported yet",
		"spark":         "spark jobs are not supported yet",
		"parallel":      "parallel jobs are not supported yet",
		"data_transfer": "data_transfer jobs are not supported yet",
		"import":        "import jobs are not supported yet",
	}
)

func componentDocument() *typedRule {
	return typed("a component", "command", map[string]*objRule{
		"command": commandComponent(), "pipeline": pipelineComponent(),
	}, unsupportedComponents)
}

// inlineUnsupportedComponents are the component types rejected inside
// pipeline steps: spark and parallel components are checked there (a spark
// or parallel step runs them), though not registered on their own.
var inlineUnsupportedComponents = map[string]string{
	"data_transfer": unsupportedComponents["data_transfer"],
	"import":        unsupportedComponents["import"],
	"flow_parallel": unsupportedComponents["flow_parallel"],
}

// inlineComponent is a component written in (or included into) a pipeline
// step, where its name is optional.
func inlineComponent(def string) func() rule {
	return func() rule {
		return typed("a component", def, map[string]*objRule{
			"command": optionalName(commandComponent()), "pipeline": optionalName(pipelineComponent()),
			"spark": optionalName(sparkComponent()), "parallel": optionalName(parallelComponent()),
		}, inlineUnsupportedComponents)
	}
}

// steps is the `jobs` mapping of a pipeline.
func steps() rule {
	return &mapOfRule{keyPat: stepName, keyWhat: ioNameMsg, elem: typed("a pipeline step", "command", map[string]*objRule{
		"command":  commandStep(),
		"pipeline": pipelineStep(),
		"sweep":    sweepStep(),
		"automl":   automlStep(),
		"spark":    sparkStep(),
		"parallel": parallelStep(),
	}, unsupportedSteps)}
}

// unsupportedSteps are the step types Tandem rejects. Sweep, automl, spark
// and parallel steps are checked (steps.go) though Tandem cannot run them
// yet; submitting a pipeline with one is refused when the job is created.
var unsupportedSteps = map[string]string{
	"data_transfer": "data_transfer steps are not supported yet",
	"import":        "import steps are not supported yet",
}

// stepFields are the fields every pipeline step has.
func stepFields(more ...field) []field {
	return append([]field{
		opt("name", nameRule), opt("display_name", str), opt("description", str), opt("tags", tags),
		opt("properties", properties), opt("compute", computeRef),
		opt("inputs", ioMap(inputBinding)), opt("outputs", ioMap(outputBinding)),
	}, more...)
}

func commandStep() *objRule {
	r := obj(stepFields(
		opt("component", assetOrRef(KindComponent, inlineComponent("command"), false, true)),
		opt("command", nonEmpty), opt("code", codeRule), opt("environment", environment),
		opt("environment_variables", stringMap), opt("distribution", distribution), opt("resources", jobResources),
		opt("limits", limits), opt("identity", jobIdentity), opt("services", services),
		opt("queue_settings", queueSettings), opt("experiment_name", str),
	)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		_, hasComponent := out["component"]
		_, hasCommand := out["command"]
		switch {
		case !hasComponent && !hasCommand && !present(n, "component") && !present(n, "command"):
			c.problem(n, field, "a command step needs a component or a command")
		case hasCommand && hasComponent:
			c.problem(n.get("command").value, join(field, "command"), "give either component or command, not both")
		case hasCommand:
			if _, ok := out["environment"]; !ok && !present(n, "environment") {
				c.problem(n, field, "missing required field \"environment\" (a command step without a component needs one)")
			}
			commandCheck(c, n, out, field)
		}
		componentTypeMatches(c, n, out, field, "command")
	}
	return r
}

func pipelineStep() *objRule {
	r := obj(stepFields(
		req("component", assetOrRef(KindComponent, inlineComponent("pipeline"), false, true)),
		opt("settings", pipelineSettings),
	)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		componentTypeMatches(c, n, out, field, "pipeline")
	}
	return r
}

// componentTypeMatches: a step of type command runs a command component,
// one of type pipeline a pipeline component.
func componentTypeMatches(c *checker, n *node, out map[string]any, field, want string) {
	comp, ok := out["component"].(map[string]any)
	if !ok {
		return
	}
	if t, _ := comp["type"].(string); t != "" && t != want {
		c.problem(n.get("component").value, join(field, "component"), "a %s step needs a %s component, not a %s component", want, want, t)
	}
}

var pipelineSettings = obj(opt("default_compute", computeRef), opt("default_datastore", datastoreRef),
	opt("default_environment", environment), opt("continue_on_step_failure", boolean), opt("force_rerun", boolean),
	opt("on_init", str), opt("on_finalize", str))

// datastoreRef names a datastore: azureml:NAME or NAME.
var datastoreRef = funcRule{what: "a datastore name (azureml:NAME)", fn: func(c *checker, n *node, field string) any {
	s, ok := n.str()
	if !ok {
		c.problem(n, field, "must be a datastore name (azureml:NAME), not %s", n.describe())
		return nil
	}
	name := strings.TrimPrefix(s, armPrefix)
	if !datastoreName.pattern.MatchString(name) {
		c.problem(n, field, "%q is not a valid datastore name: %s", s, datastoreName.explain)
		return s
	}
	c.refs = append(c.refs, Ref{Field: field, Kind: KindDatastore, Name: name, Raw: s, File: n.file, Pos: n.pos})
	return s
}}

// jobFields are the fields every job has. resubmit_on_failover is Tandem's
// extension: resubmit the job in the new primary after a failover.
func jobFields(more ...field) []field {
	return append([]field{
		opt("name", nameRule), opt("display_name", str), opt("experiment_name", str), opt("description", str),
		opt("tags", tags), opt("properties", properties), opt("compute", computeRef),
		opt("identity", jobIdentity), opt("resubmit_on_failover", boolean),
	}, more...)
}

func commandJob() *objRule {
	r := obj(jobFields(
		req("command", nonEmpty), opt("code", codeRule), req("environment", environment),
		opt("environment_variables", stringMap), opt("inputs", ioMap(inputBinding)), opt("outputs", ioMap(outputBinding)),
		opt("distribution", distribution), opt("resources", jobResources), opt("limits", limits),
		opt("services", services), opt("queue_settings", queueSettings), opt("parent_job_name", str),
	)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		commandCheck(c, n, out, field)
		c.noBindings(n, field, "inputs")
		c.noBindings(n, field, "outputs")
	}
	return r
}

// noBindings reports ${{parent...}} bindings in a job that is not a step.
func (c *checker) noBindings(n *node, field, key string) {
	e := n.get(key)
	if e == nil || e.value.kind != mapNode {
		return
	}
	for _, io := range e.value.entries {
		if s, ok := io.value.str(); ok && hasExpr(s) {
			c.problem(io.value, join(field, key+"."+io.key), "%q: bindings belong to the steps of a pipeline; give a value here", s)
		}
	}
}

// pipelineJob is a pipeline job: its steps (jobs), or a pipeline
// component it runs (component), whose inputs and outputs the job binds.
func pipelineJob() *objRule {
	r := obj(jobFields(
		opt("inputs", ioMap(inputBinding)), opt("outputs", ioMap(outputBinding)),
		opt("settings", pipelineSettings), opt("jobs", steps()),
		opt("component", assetOrRef(KindComponent, inlineComponent("pipeline"), false, true)),
	)...)
	r.after = func(c *checker, n *node, out map[string]any, field string) {
		c.noBindings(n, field, "inputs")
		hasJobs, hasComponent := present(n, "jobs"), present(n, "component")
		switch {
		case hasJobs && hasComponent:
			c.problem(n.get("component").value, join(field, "component"), "give either jobs (the pipeline's steps) or component (a pipeline component to run), not both")
		case !hasJobs && !hasComponent:
			c.problem(n, field, "missing required field \"jobs\" (the pipeline's steps); or give component: a pipeline component to run")
		case hasComponent:
			if comp, ok := out["component"].(map[string]any); ok {
				if t, _ := comp["type"].(string); t != "" && t != "pipeline" {
					c.problem(n.get("component").value, join(field, "component"), "a pipeline job runs a pipeline component, not a %s component", t)
					return
				}
			}
			c.checkStepInterface(n, field, out)
		}
		pipelineCheck(c, n, out, field)
	}
	return r
}

func jobDocument() *typedRule {
	return typed("a job", "command", map[string]*objRule{
		"command": commandJob(), "pipeline": pipelineJob(),
	}, unsupportedJobs)
}

// pipelineCheck checks the bindings of every step of a pipeline (job or
// component): each names an input or output of the pipeline or an output
// of another step; each step gets the required inputs of its component and
// binds only inputs and outputs the component declares; steps do not depend
// on each other in a cycle.
func pipelineCheck(c *checker, n *node, out map[string]any, field string) {
	jobs, _ := out["jobs"].(map[string]any)
	jobsEntry := n.get("jobs")
	if jobs == nil || jobsEntry == nil || jobsEntry.value.kind != mapNode {
		return
	}
	sc := pipelineScope{inputs: names(out["inputs"]), outputs: names(out["outputs"]), steps: map[string]map[string]bool{}}
	for name, v := range jobs {
		step, _ := v.(map[string]any)
		sc.steps[name] = stepOutputs(step)
	}
	deps := map[string][]string{}
	for _, e := range jobsEntry.value.entries {
		step, _ := jobs[e.key].(map[string]any)
		sfield := join(join(field, "jobs"), e.key)
		deps[e.key] = c.checkStepBindings(e.value, sfield, sc, e.key)
		c.checkStepInterface(e.value, sfield, step)
	}
	if cycle := findCycle(deps); cycle != nil {
		c.problem(jobsEntry.value, join(field, "jobs"), "steps depend on each other in a cycle: %s", strings.Join(cycle, " -> "))
	}
}

// stepOutputs returns the outputs a step is known to have, nil when its
// component is registered elsewhere and so not known here.
func stepOutputs(step map[string]any) map[string]bool {
	outs := names(step["outputs"])
	if t, _ := step["type"].(string); t == "automl" {
		for _, o := range automlOutputs {
			outs[o] = true
		}
	}
	switch comp := stepComponent(step).(type) {
	case map[string]any:
		for k := range names(comp["outputs"]) {
			outs[k] = true
		}
	case string:
		return nil
	}
	return outs
}

// stepComponent is the component a step runs: its component, or the trial
// of a sweep step.
func stepComponent(step map[string]any) any {
	if t, ok := step["trial"]; ok {
		return t
	}
	return step["component"]
}

// checkStepBindings checks the expressions in a step's inputs, outputs,
// compute and automl data, and returns the steps it takes outputs from.
func (c *checker) checkStepBindings(n *node, field string, sc pipelineScope, from string) []string {
	if n.kind != mapNode {
		return nil
	}
	var deps []string
	check := func(v *node, f string) {
		if s, ok := v.str(); ok && hasExpr(s) {
			deps = append(deps, c.checkBinding(v, f, s, sc, from)...)
		}
	}
	for _, key := range []string{"inputs", "outputs"} {
		e := n.get(key)
		if e == nil || e.value.kind != mapNode {
			continue
		}
		for _, io := range e.value.entries {
			f := join(field, key+"."+io.key)
			check(io.value, f)
			if io.value.kind == mapNode {
				for _, sub := range []string{"path", "value"} {
					if p := io.value.get(sub); p != nil {
						check(p.value, join(f, sub))
					}
				}
			}
		}
	}
	if e := n.get("compute"); e != nil {
		check(e.value, join(field, "compute"))
	}
	for _, key := range automlData {
		e := n.get(key)
		if e == nil {
			continue
		}
		check(e.value, join(field, key))
		if e.value.kind == mapNode {
			if p := e.value.get("path"); p != nil {
				check(p.value, join(field, key+".path"))
			}
		}
	}
	return deps
}

// checkStepInterface compares a step's inputs and outputs with those its
// component declares, when the component is known here.
func (c *checker) checkStepInterface(n *node, field string, step map[string]any) {
	comp, ok := stepComponent(step).(map[string]any)
	if !ok || n.kind != mapNode {
		return
	}
	declIn, _ := comp["inputs"].(map[string]any)
	declOut := names(comp["outputs"])
	bound := names(step["inputs"])
	// A sweep step binds the trial's inputs it searches over too.
	if e := n.get("search_space"); e != nil && e.value.kind == mapNode {
		for _, p := range e.value.entries {
			bound[p.key] = true
			if _, in := declIn[p.key]; !in {
				c.problemAt(p.value.file, p.keyPos, join(field, "search_space."+p.key),
					"the trial component has no input %q to search over (it has: %s)", p.key, sortedNames(names(declIn)))
			}
		}
	}
	for _, key := range []string{"inputs", "outputs"} {
		e := n.get(key)
		if e == nil || e.value.kind != mapNode {
			continue
		}
		for _, io := range e.value.entries {
			_, inIn := declIn[io.key]
			if (key == "inputs" && !inIn) || (key == "outputs" && !declOut[io.key]) {
				have := names(declIn)
				if key == "outputs" {
					have = declOut
				}
				c.problemAt(io.value.file, io.keyPos, join(field, key+"."+io.key),
					"the component has no %s %q (it has: %s)", strings.TrimSuffix(key, "s"), io.key, sortedNames(have))
			}
		}
	}
	var missing []string
	for name, d := range declIn {
		decl, _ := d.(map[string]any)
		_, hasDefault := decl["default"]
		if optional, _ := decl["optional"].(bool); !optional && !hasDefault && !bound[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		c.problem(n, field, "the component's required input%s %s %s not bound", plural(len(missing)), quoteList(missing),
			map[bool]string{true: "is", false: "are"}[len(missing) == 1])
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// findCycle returns a dependency cycle among steps, or nil.
func findCycle(deps map[string][]string) []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(s string) []string
	visit = func(s string) []string {
		state[s] = active
		stack = append(stack, s)
		next := append([]string(nil), deps[s]...)
		sort.Strings(next)
		for _, d := range next {
			switch state[d] {
			case active:
				for i, x := range stack {
					if x == d {
						return append(append([]string(nil), stack[i:]...), d)
					}
				}
			case unseen:
				if cyc := visit(d); cyc != nil {
					return cyc
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[s] = done
		return nil
	}
	var roots []string
	for s := range deps {
		roots = append(roots, s)
	}
	sort.Strings(roots)
	for _, s := range roots {
		if state[s] == unseen {
			if cyc := visit(s); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}
