package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

const (
	modelSchema     = "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
	dataSchema      = "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
	envSchema       = "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
	componentSchema = "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\n"
	commandSchema   = "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
	pipelineSchema  = "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
)

// files every bad case can point at.
var fixture = map[string]string{
	"model.pkl":          "x",
	"data/":              "",
	"data.csv":           "a,b\n",
	"src/main.py":        "print(1)\n",
	"table/MLTable":      "paths: []\n",
	"ctx/Dockerfile":     "FROM scratch\n",
	"conda.yml":          "name: x\n",
	"mlflow/MLmodel":     "flavors: {}\n",
	"env/env.yml":        envSchema + "name: e\nimage: python\nconda_file: ../missing.yml\n",
	"env/notenv.yml":     modelSchema + "name: m\npath: ../model.pkl\n",
	"comp/train.yml":     componentSchema + "name: train\ncommand: python x ${{inputs.a}}\nenvironment: azureml:e:1\ncode: ./nosrc\ninputs:\n  a:\n    type: string\n",
	"comp/loop.yml":      "type: pipeline\nname: loop\njobs:\n  again:\n    type: pipeline\n    component: ./loop.yml\n",
	"comp/good.yml":      componentSchema + "name: good\ncommand: python x ${{inputs.a}} ${{outputs.o}}\nenvironment: azureml:e:1\ncode: ../src\ninputs:\n  a:\n    type: string\n  b:\n    type: integer\n    default: 1\noutputs:\n  o:\n    type: uri_folder\n",
	"comp/pipe.yml":      "$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json\ntype: pipeline\nname: pc\njobs:\n  s:\n    component: ./good.yml\n    inputs:\n      a: x\n",
	"comp/badyaml.yml":   "name: [\n",
	"comp/emptyfile.yml": "",
}

var badCases = []badCase{
	// YAML itself.
	{name: "MalformedYAML", yaml: "name: x\n  bad: [1\n", want: "1:7: ", msg: "malformed YAML: mapping value is not allowed in this context"},
	{name: "TwoDocuments", yaml: modelSchema + "name: a\npath: model.pkl\n---\nname: b\n", want: "5:1: ", msg: "more than one YAML document"},
	{name: "Empty", yaml: "", want: ": ", msg: "holds no YAML document"},
	{name: "RootList", yaml: "- a\n- b\n", want: "1:1: ", msg: "must be a mapping of fields, not a list"},
	{name: "DuplicateKey", yaml: modelSchema + "name: a\nname: b\n", want: "3:1: ", msg: "already defined"},
	{name: "UnknownAlias", yaml: modelSchema + "name: *nope\n", want: "2:7: ", msg: "alias"},
	{name: "UnsupportedTag", yaml: modelSchema + "name: !Ref x\npath: model.pkl\n", want: "2:7: ", msg: "unsupported YAML tag !Ref"},
	{name: "KeyNotScalar", yaml: modelSchema + "? [a]\n: b\n", want: "3:1: ", msg: "malformed YAML: found an invalid key for this map"},

	// Kinds.
	{name: "NoSchema", yaml: "name: x\npath: model.pkl\n", want: "1:1: ", msg: "it has no $schema; give the kind with --kind"},
	{name: "UnknownSchema", yaml: "$schema: https://example.com/frobnicator.schema.json\nname: x\n", want: "1:10: $schema: ", msg: `unknown schema "https://example.com/frobnicator.schema.json"`},
	{name: "SchemaNotString", yaml: "$schema: [1]\n", want: "1:10: $schema: ", msg: "must be a schema URL, not a list"},
	{name: "UnknownKindOption", yaml: "name: x\n", opts: Options{Kind: "gadget"}, want: ": ", msg: `unknown kind "gadget"`},
	{name: "KindOptionMismatch", yaml: modelSchema + "name: x\npath: model.pkl\n", opts: Options{Kind: "data"}, want: "1:10: $schema: ", msg: "the schema is for a model, but --kind says data"},
	{name: "TypeMismatchSchema", yaml: commandSchema + "type: pipeline\njobs: {}\n", want: "2:7: type: ", msg: `"pipeline" does not match the $schema, which is for type command`},
	{name: "UnsupportedSchema", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntrial: {}\n", want: "1:10: $schema: ", msg: "sweep jobs (hyperparameter tuning) are not supported yet"},
	{name: "UnsupportedType", yaml: "type: automl\ntask: classification\n", opts: Options{Kind: "job"}, want: "1:7: type: ", msg: "automl jobs are not supported yet"},
	{name: "UnknownType", yaml: "type: magic\n", opts: Options{Kind: "job"}, want: "1:7: type: ", msg: `"magic" is not allowed; use one of: `},

	// Fields.
	{name: "UnknownKey", yaml: modelSchema + "name: x\npath: model.pkl\nflavour: vanilla\n", want: "4:1: flavour: ", msg: "unknown field; allowed fields are: description, flavors, job_name, name, path, properties, stage, tags, type, version"},
	{name: "UnknownNestedKey", yaml: envSchema + "name: e\nbuild:\n  path: ctx\n  dockerfile: x\n", want: "5:3: build.dockerfile: ", msg: "allowed fields are: dockerfile_path, path"},
	{name: "MissingRequired", yaml: modelSchema + "description: no name\n", want: "1:1: ", msg: `missing required fields "name", "path"`},
	{name: "RequiredNull", yaml: modelSchema + "name:\npath: model.pkl\n", want: "1:1: ", msg: `missing required field "name"`},
	{name: "WrongTypeString", yaml: modelSchema + "name: [a]\npath: model.pkl\n", want: "2:7: name: ", msg: "must be a string, not a list"},
	{name: "WrongTypeMapping", yaml: modelSchema + "name: a\npath: model.pkl\ntags: [a]\n", want: "4:7: tags: ", msg: "must be a mapping, not a list"},
	{name: "WrongTypeInteger", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu\ntype: amlcompute\nmax_instances: two\n", want: "4:16: max_instances: ", msg: "must be an integer, not a string"},
	{name: "WrongTypeBoolean", yaml: commandSchema + "command: x\nenvironment: azureml:e:1\nresubmit_on_failover: sometimes\n", want: "4:23: resubmit_on_failover: ", msg: "must be true or false, not a string"},
	{name: "IntegerOutOfRange", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu\ntype: amlcompute\nmin_instances: -1\n", want: "4:16: min_instances: ", msg: "must be between 0 and 10000, not -1"},
	{name: "BadEnum", yaml: dataSchema + "name: d\ntype: uri_thing\npath: data.csv\n", want: "3:7: type: ", msg: `"uri_thing" is not allowed; use one of: mltable, uri_file, uri_folder`},
	{name: "BadVersion", yaml: modelSchema + "name: a\nversion: true\npath: model.pkl\n", want: "3:10: version: ", msg: "must be a version (a string or a number), not a boolean"},
	{name: "BadVersionText", yaml: modelSchema + "name: a\nversion: \"1 2\"\npath: model.pkl\n", want: "3:10: version: ", msg: "is not a valid version"},
	{name: "BadName", yaml: modelSchema + "name: -model\npath: model.pkl\n", want: "2:7: name: ", msg: `"-model" is not valid: use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 255 characters`},
	{name: "NameTooLong", yaml: modelSchema + "name: " + strings.Repeat("a", 256) + "\npath: model.pkl\n", want: "2:7: name: ", msg: "at most 255 characters"},

	// Local paths.
	{name: "PathMissing", yaml: modelSchema + "name: a\npath: nothing/here.pkl\n", want: "3:7: path: ", msg: "nothing/here.pkl: no such file or directory"},
	{name: "FolderIsFile", yaml: dataSchema + "name: d\ntype: uri_folder\npath: data.csv\n", want: "4:7: path: ", msg: "data.csv is a file; a directory is needed here"},
	{name: "FileIsFolder", yaml: dataSchema + "name: d\ntype: uri_file\npath: data\n", want: "4:7: path: ", msg: "data is a directory; a file is needed here"},
	{name: "MLTableWithoutFile", yaml: dataSchema + "name: d\ntype: mltable\npath: data\n", want: "4:7: path: ", msg: "data has no MLTable file"},
	{name: "MLflowWithoutMLmodel", yaml: modelSchema + "name: m\ntype: mlflow_model\npath: data\n", want: "4:7: path: ", msg: "data has no MLmodel file"},
	{name: "URINotAllowed", yaml: envSchema + "name: e\nimage: python\nconda_file: https://example.com/conda.yml\n", want: "4:13: conda_file: ", msg: "a URI is not allowed here"},
	{name: "UnknownScheme", yaml: dataSchema + "name: d\npath: ftp://host/x\n", want: "3:7: path: ", msg: `unsupported URI scheme "ftp"`},
	{name: "BadAzureMLURI", yaml: dataSchema + "name: d\npath: azureml://nowhere/x\n", want: "3:7: path: ", msg: "is not a valid azureml:// URI"},
	{name: "RefNotAllowed", yaml: dataSchema + "name: d\npath: azureml:other:1\n", want: "3:7: path: ", msg: "a reference to a registered asset is not allowed here"},
	{name: "EmptyPath", yaml: modelSchema + "name: a\npath: \"\"\n", want: "3:7: path: ", msg: "must not be empty"},

	// Environments and file: includes.
	{name: "ImageAndBuild", yaml: envSchema + "name: e\nimage: python\nbuild:\n  path: ctx\n", want: "5:3: build: ", msg: "give either image or build, not both"},
	{name: "NoImageNoBuild", yaml: envSchema + "name: e\ndescription: nothing\n", want: "1:1: ", msg: "an environment needs an image or a build context"},
	{name: "CondaWithBuild", yaml: envSchema + "name: e\nbuild:\n  path: ctx\nconda_file: conda.yml\n", want: "5:13: conda_file: ", msg: "conda_file goes with image"},
	{name: "DockerfileMissing", yaml: envSchema + "name: e\nbuild:\n  path: ctx\n  dockerfile_path: docker/Dockerfile.gpu\n", want: "5:20: build.dockerfile_path: ", msg: "ctx has no file docker/Dockerfile.gpu"},
	{name: "IncludeProblemInNestedFile", yaml: commandSchema + "command: x\nenvironment: file:env/env.yml\n", want: "", msg: ""},
	{name: "IncludeMissing", yaml: commandSchema + "command: x\nenvironment: file:env/none.yml\n", want: "3:14: environment: ", msg: "env/none.yml: no such file or directory"},
	{name: "IncludeWrongKind", yaml: commandSchema + "command: x\nenvironment: file:env/notenv.yml\n", want: "", msg: ""},
	{name: "EnvironmentNotRef", yaml: commandSchema + "command: x\nenvironment: python\n", want: "3:14: environment: ", msg: `"python" is not an environment: azureml:NAME:VERSION`},
	{name: "RefKindMismatch", yaml: commandSchema + "command: x\nenvironment: azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/1\n", want: "3:14: environment: ", msg: "refers to a model; an environment is needed here"},
	{name: "BadRef", yaml: commandSchema + "command: x\nenvironment: azureml:bad name:1\n", want: "3:14: environment: ", msg: "is not a valid reference"},
	{name: "MergeNotMapping", yaml: modelSchema + "name: m\npath: model.pkl\ntags:\n  <<: 5\n", want: "5:7: ", msg: "a merge key (<<) takes a mapping, not an integer"},
	{name: "MergeListItem", yaml: modelSchema + "name: m\npath: model.pkl\ntags:\n  <<: [{a: b}, [c]]\n", want: "5:16: ", msg: "a merge key (<<) takes mappings, not a list"},
	{name: "NotUTF8", yaml: modelSchema + "name: \xff\n", want: ": ", msg: "not valid UTF-8"},

	// Datastores.
	{name: "BlobTwoCredentials", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\nname: ds\naccount_name: a\ncontainer_name: c\ncredentials:\n  account_key: k\n  sas_token: s\n", want: "6:3: credentials: ", msg: "give either account_key or sas_token, not both"},
	{name: "ADLSMissingSecret", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json\nname: ds\naccount_name: a\nfilesystem: f\ncredentials:\n  tenant_id: t\n  client_id: c\n", want: "6:3: credentials: ", msg: `missing required field "client_secret"`},
	{name: "DatastoreName", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\nname: my-store\naccount_name: a\ncontainer_name: c\n", want: "2:7: name: ", msg: "use letters, digits and '_'"},
	{name: "LocalRelative", yaml: "name: ds\ntype: local\npath: data\n", opts: Options{Kind: "datastore"}, want: "3:7: path: ", msg: "give an absolute path on the server host"},
	{name: "S3Bucket", yaml: "name: ds\ntype: s3\nbucket: No_Such\n", opts: Options{Kind: "datastore"}, want: "3:9: bucket: ", msg: "use 3 to 63 lower-case letters"},
	{name: "S3HalfCredentials", yaml: "name: ds\ntype: s3\nbucket: b12\ncredentials:\n  access_key_id: a\n", opts: Options{Kind: "datastore"}, want: "5:3: credentials: ", msg: `missing required field "secret_access_key"`},
	{name: "DatastoreTypeRequired", yaml: "name: ds\n", opts: Options{Kind: "datastore"}, want: "1:1: ", msg: `missing required field "type" (one of: azure_blob, azure_data_lake_gen1`},
	{name: "Gen1", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/azureDataLakeGen1.schema.json\nname: ds\n", want: "1:10: $schema: ", msg: "azure_data_lake_gen1 datastores are not supported"},

	// Commands and expressions.
	{name: "UndeclaredInput", yaml: commandSchema + "command: >-\n  python x.py\n  --a ${{inputs.a}}\n  --b ${{inputs.b}}\nenvironment: azureml:e:1\ninputs:\n  a: 1\n", want: "5:7: command: ", msg: `${{inputs.b}} refers to an undeclared input "b" (declared: a)`},
	{name: "UndeclaredOutput", yaml: commandSchema + "command: echo ${{outputs.out}}\nenvironment: azureml:e:1\n", want: "2:15: command: ", msg: `refers to an undeclared output "out" (declared: none)`},
	{name: "UnknownExpression", yaml: commandSchema + "command: echo ${{ secrets.x }}\nenvironment: azureml:e:1\n", want: "2:15: command: ", msg: "unknown expression ${{ secrets.x }}"},
	{name: "UnclosedExpression", yaml: commandSchema + "command: echo ${{inputs.a\nenvironment: azureml:e:1\n", want: "2:15: command: ", msg: "an expression is not closed"},
	{name: "BindingInCommandJob", yaml: commandSchema + "command: echo ${{inputs.a}}\nenvironment: azureml:e:1\ninputs:\n  a: ${{parent.inputs.a}}\n", want: "5:6: inputs.a: ", msg: "bindings belong to the steps of a pipeline"},
	{name: "ComponentUndeclaredInput", yaml: componentSchema + "name: c\ncommand: run ${{inputs.missing}}\nenvironment: azureml:e:1\n", want: "3:14: command: ", msg: `undeclared input "missing"`},
	{name: "InputDefaultForData", yaml: componentSchema + "name: c\ncommand: run\nenvironment: azureml:e:1\ninputs:\n  d:\n    type: uri_folder\n    default: ./x\n", want: "8:14: inputs.d.default: ", msg: "a uri_folder input cannot have a default"},
	{name: "InputDefaultType", yaml: componentSchema + "name: c\ncommand: run\nenvironment: azureml:e:1\ninputs:\n  n:\n    type: integer\n    default: many\n", want: "8:14: inputs.n.default: ", msg: "must be a integer value, not a string"},
	{name: "InputName", yaml: componentSchema + "name: c\ncommand: run\nenvironment: azureml:e:1\ninputs:\n  2fast:\n    type: string\n", want: "6:3: inputs.2fast: ", msg: "is not a valid name"},
	{name: "InputTypeRequired", yaml: componentSchema + "name: c\ncommand: run\nenvironment: azureml:e:1\ninputs:\n  x:\n    description: no type\n", want: "7:5: inputs.x: ", msg: `missing required field "type"`},

	// Pipelines.
	{name: "ParentInputMissing", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.x}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.inputs.nope}}\n", want: "8:10: jobs.a.inputs.x: ", msg: `the pipeline has no input "nope" (inputs: none)`},
	{name: "ParentOutputMissing", yaml: pipelineSchema + "type: pipeline\noutputs:\n  o:\njobs:\n  a:\n    command: echo ${{outputs.y}}\n    environment: azureml:e:1\n    outputs:\n      y: ${{parent.outputs.p}}\n", want: "10:10: jobs.a.outputs.y: ", msg: `the pipeline has no output "p" (outputs: o)`},
	{name: "UnknownStep", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.x}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.jobs.b.outputs.o}}\n", want: "8:10: jobs.a.inputs.x: ", msg: `the pipeline has no step "b" (steps: a)`},
	{name: "StepOutputMissing", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.x}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.jobs.a.outputs.p}}\n", want: "13:10: jobs.b.inputs.x: ", msg: `step "a" has no output "p" (outputs: o)`},
	{name: "OwnOutput", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.x}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.jobs.a.outputs.o}}\n    outputs:\n      o:\n", want: "8:10: jobs.a.inputs.x: ", msg: "a step cannot take its own output"},
	{name: "Cycle", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.x}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.jobs.b.outputs.o}}\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.x}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{parent.jobs.a.outputs.o}}\n    outputs:\n      o:\n", want: "4:3: jobs: ", msg: "steps depend on each other in a cycle: a -> b -> a"},
	{name: "BindingExpression", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.x}}\n    environment: azureml:e:1\n    inputs:\n      x: ${{inputs.y}}\n", want: "8:10: jobs.a.inputs.x: ", msg: "unknown expression: a step binding can use"},
	{name: "StepNeedsCommand", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    compute: azureml:cpu\n", want: "5:5: jobs.a: ", msg: "a command step needs a component or a command"},
	{name: "StepNeedsEnvironment", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo\n", want: "5:5: jobs.a: ", msg: `missing required field "environment"`},
	{name: "PipelineJobsAndComponent", yaml: pipelineSchema + "type: pipeline\ncomponent: azureml:pc:1\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", want: "3:12: component: ", msg: "give either jobs"},
	{name: "PipelineComponentInput", yaml: pipelineSchema + "type: pipeline\ninputs:\n  y: 1\ncomponent:\n  jobs:\n    a:\n      command: echo ${{inputs.x}}\n      environment: azureml:e:1\n      inputs:\n        x: ${{parent.inputs.x}}\n  inputs:\n    x:\n      type: integer\n", want: "4:3: inputs.y: ", msg: `the component has no input "y"`},
	{name: "PipelineComponentCommand", yaml: pipelineSchema + "type: pipeline\ncomponent:\n  type: command\n  command: echo\n  environment: azureml:e:1\n", want: "4:3: component: ", msg: "a pipeline job runs a pipeline component, not a command component"},
	{name: "ModelRefAsData", yaml: commandSchema + "command: ls ${{inputs.m}}\nenvironment: azureml:e:1\ninputs:\n  m:\n    type: uri_folder\n    path: azureml://registries/azureml/models/m/versions/1\n", want: "7:11: inputs.m.path: ", msg: "refers to a model; a data asset is needed here (for a model input, give type custom_model"},
	{name: "UnsupportedStep", yaml: pipelineSchema + "type: pipeline\njobs:\n  copy:\n    type: data_transfer\n    task: copy_data\n", want: "5:11: jobs.copy.type: ", msg: "data_transfer steps are not supported yet"},
	{name: "StepComponentInput", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    component: ./comp/good.yml\n    inputs:\n      a: x\n      c: y\n", want: "8:7: jobs.s.inputs.c: ", msg: `the component has no input "c" (it has: a, b)`},
	{name: "StepRequiredInput", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    component: ./comp/good.yml\n", want: "5:5: jobs.s: ", msg: `the component's required input "a" is not bound`},
	{name: "StepComponentType", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    type: pipeline\n    component: ./comp/good.yml\n", want: "6:16: jobs.s.component: ", msg: "a pipeline step needs a pipeline component, not a command component"},
	{name: "StepComponentProblemInFile", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    component: file:./comp/train.yml\n    inputs:\n      a: x\n", want: "", msg: ""},
	{name: "IncludeCycle", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    type: pipeline\n    component: ./comp/loop.yml\n", want: "", msg: ""},
	{name: "IncludeBadYAML", yaml: pipelineSchema + "type: pipeline\njobs:\n  s:\n    component: ./comp/badyaml.yml\n", want: "", msg: ""},
	{name: "StepName", yaml: pipelineSchema + "type: pipeline\njobs:\n  bad-step:\n    command: echo\n    environment: azureml:e:1\n", want: "4:3: jobs.bad-step: ", msg: "is not a valid name"},
	{name: "OutputLocalPath", yaml: commandSchema + "command: echo ${{outputs.o}}\nenvironment: azureml:e:1\noutputs:\n  o:\n    path: ./out\n", want: "6:11: outputs.o.path: ", msg: "an output goes to a datastore"},
	{name: "DistributionType", yaml: commandSchema + "command: echo\nenvironment: azureml:e:1\ndistribution:\n  type: horovod\n", want: "5:9: distribution.type: ", msg: `"horovod" is not allowed; use one of: mpi, pytorch, ray, tensorflow`},

	// Computes and endpoints.
	{name: "ComputeMinMax", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu\ntype: amlcompute\nmin_instances: 4\nmax_instances: 2\n", want: "4:16: min_instances: ", msg: "4 is more than max_instances (2)"},
	{name: "ComputeKubernetesNeedsResource", yaml: "name: k8s\ntype: kubernetes\n", opts: Options{Kind: "compute"}, want: "1:1: ", msg: `missing required field "resource_id"`},
	{name: "EndpointCompute", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: ep1\ncompute: azureml:k8s\n", want: "3:10: compute: ", msg: "kubernetes online endpoints (with a compute) are not supported yet"},
	{name: "EndpointAuth", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: ep1\nauth_mode: password\n", want: "3:12: auth_mode: ", msg: `"password" is not allowed; use one of: key, aml_token, aad_token`},
	{name: "EndpointName", yaml: "name: 1ep\n", opts: Options{Kind: "online-endpoint"}, want: "1:7: name: ", msg: "use 3 to 32 letters, digits and '-', starting with a letter"},
	{name: "DeploymentModelRef", yaml: "name: blue\nmodel: azureml:m\ninstance_count: 0.5\n", opts: Options{Kind: "online_deployment"}, want: "3:17: instance_count: ", msg: "must be an integer, not a number"},
	{name: "BatchDeploymentModel", yaml: "$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\nname: b\n", want: "1:1: ", msg: `missing required field "model"`},

	// --set.
	{name: "SetIntoScalar", yaml: modelSchema + "name: a\npath: model.pkl\n", opts: Options{Set: []string{"name.first=x"}}, want: ": name.first: ", msg: `"first" needs a mapping here, not a string`},
	{name: "SetNoEquals", yaml: modelSchema + "name: a\npath: model.pkl\n", opts: Options{Set: []string{"name"}}, want: ": ", msg: `--set "name": use key=value`},
	{name: "SetBadPath", yaml: modelSchema + "name: a\npath: model.pkl\n", opts: Options{Set: []string{"tags..x=1"}}, want: ": ", msg: "is not a valid field path"},
	{name: "SetValueChecked", yaml: modelSchema + "name: a\npath: model.pkl\n", opts: Options{Set: []string{"version=[1]"}}, want: ": version: ", msg: "must be a version"},
	{name: "SetIndexPastEnd", yaml: componentSchema + "name: c\ncommand: x\nenvironment: azureml:e:1\nadditional_includes: [src]\n", opts: Options{Set: []string{"additional_includes[3]=x"}}, want: ": additional_includes[3]: ", msg: "past the end of the list"},
}

// nestedCases are bad cases whose problem is in another file than t.yml.
var nestedCases = map[string]struct{ file, want string }{
	"IncludeProblemInNestedFile": {"env/env.yml", "4:13: environment.conda_file: ../missing.yml: no such file or directory"},
	"IncludeWrongKind":           {"env/notenv.yml", "1:10: environment.$schema: the file is a model; an environment is needed here"},
	"StepComponentProblemInFile": {"comp/train.yml", "5:7: jobs.s.component.code: ./nosrc: no such file or directory"},
	"IncludeCycle":               {"comp/loop.yml", "6:16: jobs.s.component.jobs.again.component: ./loop.yml includes itself"},
	"IncludeBadYAML":             {"comp/badyaml.yml", "1:7: malformed YAML"},
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			if n, ok := nestedCases[c.name]; ok {
				file := filepath.Join(dir, "t.yml")
				os.WriteFile(file, []byte(c.yaml), 0o644)
				_, err := Load(file, c.opts)
				want := filepath.Join(dir, filepath.FromSlash(n.file)) + ":" + n.want
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got\n%v\nwant a problem containing\n%s", err, want)
				}
				return
			}
			runBad(t, dir, c)
		})
	}
}

func TestSymlinkOutOfDirectory(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"model/weights.bin": "w", "secret.txt": "s"})
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(dir, "model", "leak")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if err := os.Symlink("weights.bin", filepath.Join(dir, "model", "inside")); err != nil {
		t.Fatal(err)
	}
	runBad(t, dir, badCase{yaml: modelSchema + "name: m\npath: model\n", want: "3:7: path: ",
		msg: "model: symbolic link leak points outside the directory"})
	// A link that stays inside is fine.
	os.Remove(filepath.Join(dir, "model", "leak"))
	if _, err := Load(filepath.Join(dir, "t.yml"), Options{}); err != nil {
		t.Fatalf("got %v, want a link inside the directory accepted", err)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(modelSchema + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := Parse([]byte(b.String()), "bomb.yml", Options{NoFS: true})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("got %v, want the document refused as too large", err)
	}
}

func TestDeepNesting(t *testing.T) {
	src := modelSchema + "name: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n"
	_, err := Parse([]byte(src), "deep.yml", Options{NoFS: true})
	if err == nil {
		t.Fatal("got no error, want deep nesting refused")
	}
}

// okCase is a document that must validate to the given fields.
type okCase struct {
	name     string
	yaml     string
	opts     Options
	kindType string
	fields   map[string]any
}

var okCases = []okCase{
	{name: "ModelDefaults", yaml: modelSchema + "name: m\nversion: 1\npath: model.pkl\nid: /subscriptions/x\ncreation_context: {created_by: me}\nlatest_version: 3\n",
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "version": "1", "path": "model.pkl", "type": "custom_model"}},
	{name: "VersionSpelling", yaml: modelSchema + "name: m\nversion: 1.10\npath: model.pkl\ntags: {t: 2.50, s: !!str 007}\n",
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "version": "1.10", "path": "model.pkl", "type": "custom_model", "tags": map[string]any{"t": "2.50", "s": "007"}}},
	{name: "EnumCase", yaml: dataSchema + "name: d\ntype: URI_File\npath: data.csv\n",
		kindType: "data/uri_file", fields: map[string]any{"name": "d", "type": "uri_file", "path": "data.csv"}},
	{name: "FloatVersion", yaml: dataSchema + "name: d\nversion: 1.5\npath: azureml://datastores/workspaceblobstore/paths/x/\n",
		kindType: "data/uri_folder", fields: map[string]any{"name": "d", "version": "1.5", "type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/x/"}},
	{name: "Tags", yaml: modelSchema + "name: m\npath: model.pkl\ntags: {a: 1, b: true, c: x}\n",
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "path": "model.pkl", "type": "custom_model", "tags": map[string]any{"a": "1", "b": "true", "c": "x"}}},
	{name: "InlineConda", yaml: envSchema + "name: e\nimage: python\nconda_file:\n  dependencies: [python=3.10]\n",
		kindType: "environment", fields: map[string]any{"name": "e", "image": "python", "conda_file": map[string]any{"dependencies": []any{"python=3.10"}}}},
	{name: "CondaFilePrefix", yaml: envSchema + "name: e\nimage: python\nconda_file: file:conda.yml\n",
		kindType: "environment", fields: map[string]any{"name": "e", "image": "python", "conda_file": "conda.yml"}},
	{name: "BuildContext", yaml: envSchema + "name: e\nbuild:\n  path: ctx\n",
		kindType: "environment", fields: map[string]any{"name": "e", "build": map[string]any{"path": "ctx"}}},
	{name: "JSON", yaml: `{"$schema": "https://azuremlschemas.azureedge.net/latest/model.schema.json", "name": "m", "path": "model.pkl", "version": 2}`,
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "path": "model.pkl", "version": "2", "type": "custom_model"}},
	{name: "KindOption", yaml: "name: m\npath: model.pkl\n", opts: Options{Kind: "model"},
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "path": "model.pkl", "type": "custom_model"}},
	{name: "SchemaNameAsKind", yaml: "command: echo hi\nenvironment: azureml:e@latest\n", opts: Options{Kind: "commandJob"},
		kindType: "job/command", fields: map[string]any{"type": "command", "command": "echo hi", "environment": "azureml:e@latest"}},
	{name: "Resubmit", yaml: commandSchema + "command: echo\nenvironment: e:1\nresubmit_on_failover: true\n",
		kindType: "job/command", fields: map[string]any{"type": "command", "command": "echo", "environment": "e:1", "resubmit_on_failover": true}},
	{name: "LocalDatastore", yaml: "$schema: https://tandemml.github.io/schemas/latest/localDatastore.schema.json\nname: scratch\npath: /srv/data\n",
		kindType: "datastore/local", fields: map[string]any{"name": "scratch", "type": "local", "path": "/srv/data"}},
	{name: "S3Datastore", yaml: "name: lake\ntype: S3\nbucket: ml-data\nendpoint: http://minio:9000\nregion: us-east-1\ncredentials: {access_key_id: a, secret_access_key: s}\n", opts: Options{Kind: "datastore"},
		kindType: "datastore/s3", fields: map[string]any{"name": "lake", "type": "s3", "bucket": "ml-data", "endpoint": "http://minio:9000", "region": "us-east-1",
			"credentials": map[string]any{"access_key_id": "a", "secret_access_key": "s"}}},
	{name: "Set", yaml: modelSchema + "name: m\npath: model.pkl\ntags: {a: x}\n", opts: Options{Set: []string{"tags.b=y", "version=7", "description=a b=c"}},
		kindType: "model/custom_model", fields: map[string]any{"name": "m", "path": "model.pkl", "type": "custom_model", "version": "7", "description": "a b=c", "tags": map[string]any{"a": "x", "b": "y"}}},
	{name: "SetNested", yaml: pipelineSchema + "type: pipeline\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", opts: Options{Set: []string{"settings.default_compute=local"}},
		kindType: "job/pipeline", fields: map[string]any{"type": "pipeline", "settings": map[string]any{"default_compute": "local"},
			"jobs": map[string]any{"a": map[string]any{"type": "command", "command": "echo", "environment": "azureml:e:1"}}}},
	{name: "LegacyPathInput", yaml: commandSchema + "command: ls ${{inputs.d}}\nenvironment: azureml:e:1\ninputs:\n  d:\n    type: path\n    path: azureml://datastores/workspaceblobstore/paths/x/\n",
		kindType: "job/command", fields: map[string]any{"type": "command", "command": "ls ${{inputs.d}}", "environment": "azureml:e:1",
			"inputs": map[string]any{"d": map[string]any{"type": "uri_folder", "path": "azureml://datastores/workspaceblobstore/paths/x/"}}}},
	{name: "PipelineJobRunsComponent", yaml: pipelineSchema + "type: pipeline\ninputs:\n  x: 3\ncomponent: azureml:pc:1\n",
		kindType: "job/pipeline", fields: map[string]any{"type": "pipeline", "inputs": map[string]any{"x": int64(3)}, "component": "azureml:pc:1"}},
	{name: "RegistryModelInputs", yaml: commandSchema + "command: ls ${{inputs.a}} ${{inputs.b}}\nenvironment: azureml:e:1\ninputs:\n  a:\n    type: mlflow_model\n    path: azureml://registries/r/models/m/versions/1\n  b:\n    path: azureml://registries/r/models/m/versions/2\n",
		kindType: "job/command", fields: map[string]any{"type": "command", "command": "ls ${{inputs.a}} ${{inputs.b}}", "environment": "azureml:e:1",
			"inputs": map[string]any{"a": map[string]any{"type": "mlflow_model", "path": "azureml://registries/r/models/m/versions/1"},
				"b": map[string]any{"path": "azureml://registries/r/models/m/versions/2"}}}},
	{name: "PipelineComponentInclude", yaml: pipelineSchema + "type: pipeline\njobs:\n  p:\n    type: pipeline\n    component: ./comp/pipe.yml\n",
		kindType: "job/pipeline", fields: map[string]any{"type": "pipeline", "jobs": map[string]any{"p": map[string]any{"type": "pipeline",
			"component": map[string]any{"name": "pc", "type": "pipeline", "jobs": map[string]any{"s": map[string]any{"type": "command",
				"inputs": map[string]any{"a": "x"},
				"component": map[string]any{"name": "good", "type": "command", "command": "python x ${{inputs.a}} ${{outputs.o}}",
					"environment": "azureml:e:1", "code": "src",
					"inputs":  map[string]any{"a": map[string]any{"type": "string"}, "b": map[string]any{"type": "integer", "default": int64(1)}},
					"outputs": map[string]any{"o": map[string]any{"type": "uri_folder"}}}}}}}}}},
}

func TestValid(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	for _, c := range okCases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.yaml), filepath.Join(dir, "t.yml"), c.opts)
			if err != nil {
				t.Fatalf("got %v, want ok", err)
			}
			got := d.Kind
			if d.Type != "" {
				got += "/" + d.Type
			}
			if got != c.kindType {
				t.Errorf("got %s, want %s", got, c.kindType)
			}
			if !reflect.DeepEqual(d.Fields, c.fields) {
				t.Errorf("got fields\n%#v\nwant\n%#v", d.Fields, c.fields)
			}
			checkRoundTrip(t, d, filepath.Join(dir, "t.yml"), c.opts)
		})
	}
}

func TestMergeKeys(t *testing.T) {
	src := modelSchema + "name: m\npath: model.pkl\ntags:\n  <<: {a: x, b: y}\n  b: z\n"
	d, err := Parse([]byte(src), "t.yml", Options{NoFS: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "x", "b": "z"}; !reflect.DeepEqual(d.Tags, want) {
		t.Fatalf("got tags %v, want %v", d.Tags, want)
	}
}

func TestMergeList(t *testing.T) {
	src := modelSchema + "name: m\npath: model.pkl\ndescription: &d text\nproperties:\n  <<: [{a: '1', b: '2'}, {b: '3', c: '4'}]\n  c: '5'\n"
	d, err := Parse([]byte(src), "t.yml", Options{NoFS: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "1", "b": "2", "c": "5"}
	if got := d.Fields["properties"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (earlier merged mappings win, own keys win over merged ones)", got, want)
	}
}

func TestDocumentSummary(t *testing.T) {
	src := modelSchema + "name: m\nversion: 3\ndescription: d\npath: model.pkl\ntags: {k: v}\n"
	d, err := Parse([]byte(src), "t.yml", Options{NoFS: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "m" || d.Version != "3" || d.Description != "d" || d.Tags["k"] != "v" || d.File != "t.yml" {
		t.Fatalf("got %+v", d)
	}
}

func TestPathsAndRefs(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, fixture)
	src := pipelineSchema + `type: pipeline
settings:
  default_datastore: azureml:workspaceblobstore
inputs:
  raw:
    type: uri_folder
    path: ./data
  reg:
    type: mlflow_model
    path: azureml:my-model:4
  cloud:
    type: uri_file
    path: azureml://datastores/lake/paths/x.csv
jobs:
  s:
    component: ./comp/good.yml
    inputs:
      a: ${{parent.inputs.raw}}
  t:
    component: azureml:registered@latest
  u:
    command: echo
    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    code: src
`
	file := filepath.Join(dir, "t.yml")
	d, err := Parse([]byte(src), file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := map[string]LocalPath{
		"inputs.raw.path":       {Raw: "./data", Abs: filepath.Join(dir, "data"), Dir: true, File: file, Pos: Pos{8, 11}},
		"jobs.s.component.code": {Raw: "../src", Abs: filepath.Join(dir, "src"), Dir: true, File: filepath.Join(dir, "comp", "good.yml"), Pos: Pos{5, 7}},
		"jobs.u.code":           {Raw: "src", Abs: filepath.Join(dir, "src"), Dir: true, File: file, Pos: Pos{25, 11}},
	}
	if len(d.Paths) != len(wantPaths) {
		t.Fatalf("got paths %+v, want %d", d.Paths, len(wantPaths))
	}
	for _, p := range d.Paths {
		w, ok := wantPaths[p.Field]
		w.Field = p.Field
		if !ok || p != w {
			t.Errorf("got path %+v, want %+v", p, w)
		}
	}
	type refKey struct{ field, kind, name, version, label, registry string }
	var got []refKey
	for _, r := range d.Refs {
		got = append(got, refKey{r.Field, r.Kind, r.Name, r.Version, r.Label, r.Registry})
	}
	want := []refKey{
		{"settings.default_datastore", KindDatastore, "workspaceblobstore", "", "", ""},
		{"inputs.reg.path", KindModel, "my-model", "4", "", ""},
		{"inputs.cloud.path", KindDatastore, "lake", "", "", ""},
		{"jobs.s.component.environment", KindEnvironment, "e", "1", "", ""},
		{"jobs.t.component", KindComponent, "registered", "", "latest", ""},
		{"jobs.u.environment", KindEnvironment, "sklearn-1.5", "", "latest", "azureml"},
	}
	if !sameSet(got, want) {
		t.Fatalf("got refs\n%+v\nwant\n%+v", got, want)
	}
	// The included component's code is relative to the component file; in
	// Fields it is relative to the document.
	comp := d.Fields["jobs"].(map[string]any)["s"].(map[string]any)["component"].(map[string]any)
	if comp["code"] != "src" {
		t.Fatalf("got code %v, want src (rebased to the document's directory)", comp["code"])
	}
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[T]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestNoFS(t *testing.T) {
	src := commandSchema + "command: echo\nenvironment: file:does/not/exist.yml\ncode: nowhere\n"
	d, err := Parse([]byte(src), "request", Options{NoFS: true})
	if err != nil {
		t.Fatalf("got %v, want no filesystem checks", err)
	}
	if d.Fields["environment"] != "file:does/not/exist.yml" || len(d.Paths) != 2 {
		t.Fatalf("got fields %v paths %+v, want the include kept as a path", d.Fields, d.Paths)
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{File: "a.yml", Pos: Pos{3, 5}, Field: "name", Message: "bad"},
		{File: "a.yml", Message: "no position"},
		{File: "a.yml", Pos: Pos{1, 1}, Message: "no field"},
	}
	want := "a.yml:3:5: name: bad\na.yml: no position\na.yml:1:1: no field"
	if got := ps.Error(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	var err error = ps
	if !tandem.IsCode(err, tandem.EInvalid) {
		t.Fatalf("got code %q, want Invalid", tandem.ErrorCode(err))
	}
	var back Problems
	if !errors.As(err, &back) || len(back) != 3 {
		t.Fatalf("errors.As lost the problems: %v", back)
	}
}

func TestProblemsSorted(t *testing.T) {
	src := modelSchema + "zzz: 1\nname: [x]\naaa: 2\n"
	_, err := Parse([]byte(src), "t.yml", Options{NoFS: true})
	ps, _ := AsProblems(err)
	for i := 1; i < len(ps); i++ {
		if ps[i].Pos.Line < ps[i-1].Pos.Line {
			t.Fatalf("problems out of order:\n%v", err)
		}
	}
	if len(ps) < 3 {
		t.Fatalf("got %v, want every problem reported", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yml"), Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}
