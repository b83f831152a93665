// Drives the npm package "mlflow" (2.0.7, a third-party MLflow REST client
// for Node.js) against a Tandem workspace, for server/mlflow_npm_test.go.
//
// Environment:
//   MLFLOW_JS_DIR        the npm prefix the package is installed under
//   MLFLOW_TRACKING_URI  the workspace's tracking URI (the client's endpoint)
//   MLFLOW_TRACKING_TOKEN a token, sent as "Authorization: Bearer" through the
//                        client's headers option
//   MLFLOW_RESULT_FILE   where to write the results, as one JSON object
//
// The client logs every POST body on stdout, so results go to a file. Each
// step records what the client returned, or the error it threw.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
	const v = process.env[name];
	if (!v) {
		throw new Error(`${name} is not set`);
	}
	return v;
};

const require = createRequire(join(env('MLFLOW_JS_DIR'), 'node_modules', 'noop.js'));
const MLflow = require('mlflow');
const { RunStatus } = require('mlflow/enum');

const endpoint = env('MLFLOW_TRACKING_URI');
const mlflow = new MLflow({ endpoint, headers: { Authorization: `Bearer ${env('MLFLOW_TRACKING_TOKEN')}` } });
const anonymous = new MLflow({ endpoint });

const results = {};
// step runs fn and records its answer, or the message of what it threw.
const step = async (name, fn) => {
	try {
		results[name] = { ok: await fn() };
	} catch (e) {
		results[name] = { error: String(e && e.message) };
	}
	return results[name].ok;
};

const experiments = mlflow.Experiments;
const runs = mlflow.Runs;

const created = await step('experiments.create', () => experiments.create({ name: 'npm-fraud' }));
const expID = created && created.experiment_id;
await step('experiments.create.duplicate', () => experiments.create({ name: 'npm-fraud' }));
await step('experiments.get', () => experiments.get({ experiment_id: expID }));
await step('experiments.get.missing', () => experiments.get({ experiment_id: '987654321' }));
await step('experiments.list', () => experiments.list());
// The package has no methods for get-by-name and search (MLflow 1.x had
// neither); they go through its own request function, as a caller would.
await step('experiments.get-by-name', () => experiments.req('get', '/get-by-name', { experiment_name: 'npm-fraud' }));
await step('experiments.search', () => experiments.req('post', '/search', { filter: "name LIKE 'npm-%'", max_results: 10 }));

const start = 1700000000000;
const run = await step('runs.create', () => runs.create({
	experiment_id: expID, user_id: 'ann', start_time: start,
	tags: [{ key: 'mlflow.runName', value: 'baseline' }, { key: 'mlflow.user', value: 'ann' }],
}));
const runID = run && run.run.info.run_id;
await step('runs.logParameter', () => runs.logParameter({ run_id: runID, key: 'lr', value: '0.01' }));
for (let i = 0; i < 3; i++) {
	await step(`runs.logMetric.${i}`, () => runs.logMetric({ run_id: runID, key: 'loss', value: 1 / (i + 1), timestamp: start + 1000 + i, step: i }));
}
await step('runs.setTag', () => runs.setTag({ run_id: runID, key: 'team', value: 'risk' }));
await step('runs.logBatch', () => runs.logBatch({
	run_id: runID,
	metrics: [{ key: 'acc', value: 0.9, timestamp: start + 2000, step: 2 }],
	params: [{ key: 'epochs', value: '3' }],
	tags: [{ key: 'stage', value: 'dev' }],
}));
await step('runs.update', () => runs.update({ run_id: runID, status: RunStatus.FINISHED, end_time: start + 3000 }));
await step('runs.get', () => runs.get({ run_id: runID }));

// A second run that the search's filter leaves out.
const other = await step('runs.create.other', () => runs.create({ experiment_id: expID, start_time: start, tags: [{ key: 'mlflow.runName', value: 'weak' }] }));
const otherID = other && other.run.info.run_id;
await step('runs.logBatch.other', () => runs.logBatch({
	run_id: otherID, metrics: [{ key: 'acc', value: 0.3, timestamp: start + 2000, step: 0 }], params: [{ key: 'lr', value: '0.01' }],
}));
await step('runs.search', () => runs.search({ experiment_ids: [expID], filter: "metrics.acc > 0.5 AND params.lr = '0.01'", max_results: 10 }));
await step('runs.search.all', () => runs.search({ experiment_ids: [expID], order_by: ['metrics.acc DESC'] }));
await step('metrics.getHistory', () => mlflow.Metrics.getHistory({ run_id: runID, metric_key: 'loss' }));

await step('anonymous.experiments.get', () => anonymous.Experiments.get({ experiment_id: expID }));

results.ids = { experiment: expID, run: runID, other: otherID };
writeFileSync(env('MLFLOW_RESULT_FILE'), JSON.stringify(results, null, '\t'));
