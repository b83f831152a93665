package spec

// Computes, online and batch endpoints and their deployments.

// computeIdentity is the managed identity of a compute or endpoint.
var computeIdentity = obj(
	req("type", enum("system_assigned", "user_assigned", "system_assigned,user_assigned", "none")),
	opt("user_assigned_identities", listOf(obj(req("resource_id", nonEmpty), opt("client_id", str), opt("principal_id", str)))),
)

var networkSettings = obj(opt("vnet_name", str), opt("subnet", str))

func computeFields(more ...field) *objRule {
	return obj(append([]field{
		req("name", computeName), opt("description", str), opt("tags", tags), opt("location", str),
	}, more...)...)
}

func computeDocument() *typedRule {
	aml := computeFields(
		opt("size", str), opt("tier", enum("dedicated", "low_priority")),
		opt("min_instances", intRange(0, 10000)), opt("max_instances", intRange(1, 10000)),
		opt("idle_time_before_scale_down", intRange(0, 1<<31)), opt("identity", computeIdentity),
		opt("ssh_public_access_enabled", boolean),
		opt("ssh_settings", obj(opt("admin_username", str), opt("admin_password", str), opt("ssh_key_value", str))),
		opt("network_settings", networkSettings), opt("enable_node_public_ip", boolean),
	)
	aml.after = func(c *checker, n *node, out map[string]any, field string) {
		lo, lok := out["min_instances"].(int64)
		hi, hok := out["max_instances"].(int64)
		if lok && hok && lo > hi {
			c.problem(n.get("min_instances").value, join(field, "min_instances"), "%d is more than max_instances (%d)", lo, hi)
		}
	}
	trigger := obj(req("type", enum("cron", "recurrence")), opt("start_time", str), opt("end_time", str),
		opt("time_zone", str), opt("expression", str), opt("frequency", enum("minute", "hour", "day", "week", "month")),
		opt("interval", intRange(1, 1<<31)), opt("schedule", anyMap))
	instance := computeFields(
		opt("size", str), opt("identity", computeIdentity),
		opt("schedules", obj(opt("compute_start_stop", listOf(obj(req("action", enum("start", "stop")),
			opt("state", enum("enabled", "disabled")), req("trigger", trigger)))))),
		opt("idle_time_before_shutdown_minutes", intRange(0, 1<<31)), opt("idle_time_before_shutdown", str),
		opt("setup_scripts", anyMap), opt("ssh_public_access_enabled", boolean),
		opt("ssh_settings", obj(opt("ssh_key_value", str))),
		opt("create_on_behalf_of", obj(opt("user_tenant_id", str), opt("user_object_id", str))),
		opt("network_settings", networkSettings), opt("enable_node_public_ip", boolean),
		opt("enable_sso", boolean), opt("enable_root_access", boolean), opt("custom_applications", listOf(anyRule{})),
	)
	vm := computeFields(
		req("resource_id", nonEmpty),
		opt("ssh_settings", obj(opt("admin_username", str), opt("admin_password", str),
			opt("ssh_private_key_file", pathRule{shape: mustBeFile}), opt("ssh_port", intRange(1, 65535)))),
	)
	// Attached computes: Tandem keeps them as records that jobs cannot
	// run on.
	attached := func() *objRule {
		return computeFields(req("resource_id", nonEmpty), opt("identity", computeIdentity), opt("namespace", str),
			opt("ssh_settings", obj(opt("admin_username", str), opt("admin_password", str), opt("ssh_port", intRange(1, 65535)))))
	}
	return typed("a compute", "", map[string]*objRule{
		"amlcompute": aml, "computeinstance": instance, "virtualmachine": vm,
		"kubernetes": attached(), "synapsespark": attached(), "aks": attached(), "hdinsight": attached(), "databricks": attached(),
	}, nil)
}

// Online endpoints and deployments.
var (
	probe = obj(opt("initial_delay", intRange(0, 1<<31)), opt("period", intRange(1, 1<<31)),
		opt("timeout", intRange(1, 1<<31)), opt("success_threshold", intRange(1, 1<<31)),
		opt("failure_threshold", intRange(1, 1<<31)))
	codeConfiguration = obj(req("code", codeRule), req("scoring_script", nonEmpty))
	modelField        = assetOrRef(KindModel, inlineModel, true, false)
	kubernetesCompute = funcRule{what: "nothing", fn: func(c *checker, n *node, field string) any {
		c.problem(n, field, "kubernetes online endpoints (with a compute) are not supported yet; leave compute out for a managed endpoint")
		return nil
	}}
)

func onlineEndpointDocument() *objRule {
	return obj(req("name", endpointName), opt("description", str), opt("tags", tags), opt("properties", properties),
		opt("auth_mode", enum("key", "aml_token", "aad_token")), opt("identity", computeIdentity),
		opt("public_network_access", enum("enabled", "disabled")),
		opt("traffic", mapOf(intRange(0, 100))), opt("mirror_traffic", mapOf(intRange(0, 100))),
		opt("compute", kubernetesCompute))
}

func onlineDeploymentDocument() *typedRule {
	managed := obj(req("name", deploymentName), opt("endpoint_name", endpointName), opt("description", str),
		opt("tags", tags), opt("properties", properties),
		opt("model", modelField), opt("code_configuration", codeConfiguration), opt("environment", environment),
		opt("instance_type", str), opt("instance_count", intRange(0, 1000)), opt("environment_variables", stringMap),
		opt("app_insights_enabled", boolean),
		opt("scale_settings", typed("scale settings", "default", map[string]*objRule{
			"default": obj(),
			"target_utilization": obj(opt("min_instances", intRange(0, 1000)), opt("max_instances", intRange(1, 1000)),
				opt("target_utilization_percentage", intRange(1, 100)), opt("polling_interval", intRange(1, 1<<31))),
		}, nil)),
		opt("request_settings", obj(opt("request_timeout_ms", intRange(1, 1<<31)),
			opt("max_concurrent_requests_per_instance", intRange(1, 1<<31)), opt("max_queue_wait_ms", intRange(0, 1<<31)))),
		opt("liveness_probe", probe), opt("readiness_probe", probe),
		opt("egress_public_network_access", enum("enabled", "disabled")), opt("data_collector", anyMap),
	)
	managed.after = func(c *checker, n *node, out map[string]any, field string) {
		if _, ok := out["model"]; !ok && !present(n, "model") {
			if _, env := out["environment"]; !env && !present(n, "environment") {
				c.problem(n, field, "a deployment needs a model, an environment, or both")
			}
		}
	}
	return typed("an online deployment", "managed", map[string]*objRule{"managed": managed}, map[string]string{
		"kubernetes": "kubernetes online deployments are not supported yet; use a managed deployment",
	})
}

// Batch endpoints and deployments.
func batchEndpointDocument() *objRule {
	return obj(req("name", endpointName), opt("description", str), opt("tags", tags), opt("properties", properties),
		opt("auth_mode", enum("aad_token")), opt("defaults", obj(opt("deployment_name", str))))
}

func batchDeploymentDocument() *typedRule {
	common := func(more ...field) *objRule {
		return obj(append([]field{
			req("name", deploymentName), opt("endpoint_name", endpointName), opt("description", str),
			opt("tags", tags), opt("properties", properties),
		}, more...)...)
	}
	model := common(
		req("model", modelField), opt("code_configuration", codeConfiguration), opt("environment", environment),
		opt("compute", computeRef),
		opt("resources", obj(opt("instance_count", intRange(1, 10000)), opt("instance_type", str), opt("properties", anyMap))),
		opt("settings", obj(opt("max_concurrency_per_instance", intRange(1, 10000)), opt("mini_batch_size", intRange(1, 1<<31)),
			opt("output_action", enum("append_row", "summary_only")), opt("output_file_name", str),
			opt("retry_settings", obj(opt("max_retries", intRange(0, 1000)), opt("timeout", intRange(1, 1<<31)))),
			opt("error_threshold", intRange(-1, 1<<31)), opt("logging_level", enum("debug", "info", "warning")),
			opt("environment_variables", stringMap))),
	)
	pipeline := common(
		req("component", assetOrRef(KindComponent, inlineComponent("pipeline"), false, true)),
		opt("settings", obj(opt("default_compute", computeRef), opt("default_datastore", datastoreRef),
			opt("continue_on_step_failure", boolean), opt("force_rerun", boolean))),
	)
	pipeline.after = func(c *checker, n *node, out map[string]any, field string) {
		componentTypeMatches(c, n, out, field, "pipeline")
	}
	return typed("a batch deployment", "model", map[string]*objRule{"model": model, "pipeline": pipeline}, nil)
}
