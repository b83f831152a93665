package region

import (
	"context"

	"github.com/tandemml/tandem"
)

// Access rules, in one place:
//   - no principal in the context: the region itself (background work) may do anything;
//   - a region admin token may do anything;
//   - a workspace token may read and update its own workspace and use what is
//     in it; creating, deleting, recovering and purging workspaces and
//     managing tokens need an admin token;
//   - a job token (the one a run gets) may only track its own job's run
//     (region/mlflow.go): every other use of its workspace is refused.

func RequireAdmin(ctx context.Context, action string) error {
	p := tandem.PrincipalFromContext(ctx)
	if p == nil || p.Admin() {
		return nil
	}
	return tandem.Errorf(tandem.EForbidden, "%s needs a region admin token; token %q is scoped to one workspace", action, p.Name)
}

func CanUseWorkspace(ctx context.Context, ws *tandem.Workspace) error {
	p := tandem.PrincipalFromContext(ctx)
	if p != nil && p.Job() != "" {
		return tandem.Errorf(tandem.EForbidden, "token %q belongs to job %q and may only track that job's run", p.Name, p.Job())
	}
	if p == nil || p.Admin() || p.WorkspaceID == ws.ID {
		return nil
	}
	return tandem.Errorf(tandem.EForbidden, "token %q is not scoped to workspace %q", p.Name, ws.Name)
}

// Visible reports whether the caller may see ws at all. Workspaces a
// workspace token may not use are reported as not found rather than
// forbidden, so tokens cannot probe for names.
func Visible(ctx context.Context, ws *tandem.Workspace) bool {
	return CanUseWorkspace(ctx, ws) == nil
}
