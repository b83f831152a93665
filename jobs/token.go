package jobs

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Every run gets a token of its own, scoped to its workspace and, by the
// access rules, to tracking its own job's run (region/access.go). It is a
// workspace token, so it replicates like any other; it is revoked when the
// job ends, and refused for logging once the job has ended even if the
// revocation was lost to a crash.

// issueJobToken creates the token a job runs with and returns its secret.
// A token left by an earlier attempt at the same job is replaced in the
// same transaction (one change: the replica's applier replaces a token by
// name too).
func (r *Service) issueJobToken(ctx context.Context, wsID, job string) (string, error) {
	secret, err := region.NewSecret()
	if err != nil {
		return "", err
	}
	name := tandem.JobTokenName(wsID, job)
	t := &tandem.Token{ID: uuid.NewString(), Name: name, WorkspaceID: wsID, Hash: region.HashToken(secret), CreatedAt: r.Timestamp()}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		old, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: name})
		if err != nil {
			return err
		}
		for _, o := range old {
			if err := tx.DeleteToken(ctx, o.ID); err != nil {
				return err
			}
		}
		if err := tx.CreateToken(ctx, t); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, wsID, tandem.KindToken, name, "", tandem.OpCreate, region.TokenRecord{Token: t, Hash: t.Hash})
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// revokeJobToken deletes a job's token, if it still exists.
func (r *Service) revokeJobToken(ctx context.Context, wsID, job string) error {
	name := tandem.JobTokenName(wsID, job)
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		found, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: name})
		if err != nil || len(found) == 0 {
			return err
		}
		if err := tx.DeleteToken(ctx, found[0].ID); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, wsID, tandem.KindToken, name, "", tandem.OpDelete, nil)
	})
}

// trackingEnv issues a job's token and adds the variables a run reads to
// env: the server's endpoint and the token under Tandem's names and
// MLflow's, the run and its experiment (created on first use), so that
// mlflow.start_run() resumes the job's own run. The returned function
// revokes the token.
func (r *Service) trackingEnv(ctx context.Context, wsID string, j *tandem.Job, env map[string]string) (revoke func(), err error) {
	job := j.Name
	secret, err := r.issueJobToken(ctx, wsID, job)
	if err != nil {
		return nil, err
	}
	endpoint := strings.TrimSuffix(r.Endpoint, "/")
	if endpoint != "" {
		env["TANDEM_ENDPOINT"] = endpoint
		env["MLFLOW_TRACKING_URI"] = endpoint
	}
	env["TANDEM_TOKEN"] = secret
	env["MLFLOW_TRACKING_TOKEN"] = secret
	env["MLFLOW_RUN_ID"] = job
	r.experimentEnv(ctx, wsID, j.ExperimentName, env)
	return func() {
		if err := r.revokeJobToken(context.WithoutCancel(ctx), wsID, job); err != nil {
			r.Logger.Warn("cannot revoke job token; it stops working for tracking once the job has ended anyway", "job", job, "err", err)
		}
	}, nil
}

// revokeEndedJobTokens removes the tokens of jobs that have ended (left by
// a crash between a job's end and its token's revocation) in the
// workspaces this region may write.
func (r *Service) revokeEndedJobTokens(ctx context.Context) {
	var stale []JobRef
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		tokens, err := tx.ListTokens(ctx, tandem.TokenFilter{})
		if err != nil {
			return err
		}
		for _, t := range tokens {
			job := t.Job()
			if job == "" {
				continue
			}
			res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: t.WorkspaceID, Kind: tandem.KindJob, Name: job})
			if tandem.IsCode(err, tandem.ENotFound) {
				stale = append(stale, JobRef{t.WorkspaceID, job})
				continue
			} else if err != nil {
				return err
			}
			if j, err := JobFromResource(res); err == nil && tandem.JobDone(j.Status) {
				stale = append(stale, JobRef{t.WorkspaceID, job})
			}
		}
		return nil
	})
	if err != nil {
		r.Logger.Warn("cannot list job tokens", "err", err)
		return
	}
	for _, ref := range stale {
		if r.CheckWritable(ctx, ref.WorkspaceID) != nil {
			continue
		}
		if err := r.revokeJobToken(ctx, ref.WorkspaceID, ref.Name); err != nil {
			r.Logger.Warn("cannot revoke the token of an ended job", "job", ref.Name, "err", err)
		}
	}
}

// experimentEnv names a job's MLflow experiment in env; the experiment is
// created on first use. A job without experiment_name is told only
// experiment 0's id (its name may have been changed). A job whose
// experiment cannot be created still runs, and MLflow uses its default.
func (r *Service) experimentEnv(ctx context.Context, wsID, name string, env map[string]string) {
	if name == "" || r.Experiment == nil {
		env["MLFLOW_EXPERIMENT_ID"] = tandem.DefaultExperimentID
		return
	}
	id, err := r.Experiment(ctx, wsID, name)
	if err != nil {
		r.Logger.Warn("cannot create the job's experiment; MLflow will use its default", "experiment", name, "err", err)
		return
	}
	env["MLFLOW_EXPERIMENT_NAME"] = name
	env["MLFLOW_EXPERIMENT_ID"] = id
}
