// Package apptest builds whole regions (kernel and every service) for the
// tests of the service packages, on each metadata backend, with a settable
// clock. Region promotes every service's methods, so that a test calls
// r.CreateAsset or r.CreateJob as a client of the region would, whichever
// package implements it. Test code only.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/backup"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/pipelines"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/secrets"
	"github.com/tandemml/tandem/sqlstore/sqltest"
	"github.com/tandemml/tandem/tracking"
)

// The services, under the names Region's embedded fields take.
type (
	Kernel    = region.Region
	Secrets   = secrets.Service
	Assets    = assets.Service
	Jobs      = jobs.Service
	Pipelines = pipelines.Service
	Tracking  = tracking.Service
	Failover  = failover.Service
	Backup    = backup.Service
	Feed      = replication.Source
)

// Region is a whole region: the kernel's and every service's methods are
// promoted (kernel fields such as Store, Blobs and Now too).
type Region struct {
	*Kernel
	*Secrets
	*Assets
	*Jobs
	*Pipelines
	*Tracking
	*Failover
	*Backup
	*Feed
	App *app.Region
}

// New returns a region named name on store and blobs, wired as the server
// wires it (without replication and without starting any loop).
func New(name string, store tandem.Store, blobs tandem.BlobStore) *Region {
	a := app.New(region.New(name, store, blobs))
	return Wrap(a)
}

// Wrap returns the test view of a wired region.
func Wrap(a *app.Region) *Region {
	return &Region{Kernel: a.Kernel, Secrets: a.Secrets, Assets: a.Assets, Jobs: a.Jobs,
		Pipelines: a.Pipelines, Tracking: a.Tracking, Failover: a.Failover, Backup: a.Backup, Feed: a.Feed, App: a}
}

// Clock is a settable test clock.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// Fixture is a region with its clock.
type Fixture struct {
	*Region
	Clock *Clock
}

// Each runs fn once per metadata backend, with a fresh region named eastus
// on mem:// blobs, its clock at 2026-11-01 12:00 UTC and its logs discarded.
func Each(t *testing.T, fn func(t *testing.T, f *Fixture)) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend, func(t *testing.T) {
			store := sqltest.Open(t, backend)
			blobs, err := blobstore.Open(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { blobs.Close() })
			r := New("eastus", store, blobs)
			c := &Clock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			r.Now = c.Now
			r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			fn(t, &Fixture{Region: r, Clock: c})
		})
	}
}

// MustCreate creates a workspace or fails the test.
func MustCreate(t *testing.T, r *Region, name string) *tandem.Workspace {
	t.Helper()
	ws := &tandem.Workspace{Name: name, Description: "d", Tags: map[string]string{"team": "vision"}}
	if err := r.CreateWorkspace(context.Background(), ws); err != nil {
		t.Fatalf("CreateWorkspace(%q): %v", name, err)
	}
	return ws
}

// WantCode fails the test unless err has the error code code.
func WantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

// Changes returns a workspace's change log.
func Changes(t *testing.T, r *Region, wsID string) []*tandem.Change {
	t.Helper()
	var out []*tandem.Change
	err := r.Store.View(context.Background(), func(tx tandem.Tx) (err error) {
		out, err = tx.ListChanges(context.Background(), wsID, 0, 1000000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BlobKeys returns the keys of the blobs under prefix.
func BlobKeys(t *testing.T, r *Region, prefix string) []string {
	t.Helper()
	var keys []string
	err := r.Blobs.List(context.Background(), prefix, func(b tandem.BlobRef) error {
		keys = append(keys, b.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
