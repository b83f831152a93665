package tandem

import (
	"strings"
	"time"
)

// WriteVersion identifies one write of a resource in a hot/hot pair: the
// region that accepted it and when.
type WriteVersion struct {
	Origin string    `json:"origin"`
	Time   time.Time `json:"time"`
}

// String is the form recorded in Change.Base: "<origin>@<RFC 3339 time>".
func (v WriteVersion) String() string {
	return v.Origin + "@" + v.Time.UTC().Format(time.RFC3339Nano)
}

// Beats reports whether v wins over w in a hot/hot conflict: the later
// write wins; on equal times the origin whose name sorts last wins. Both
// regions of a pair apply the same rule to the same two versions, so they
// pick the same winner.
func (v WriteVersion) Beats(w WriteVersion) bool {
	if !v.Time.Equal(w.Time) {
		return v.Time.After(w.Time)
	}
	return strings.Compare(v.Origin, w.Origin) > 0
}

// VersionKey is the settings key under which a hot/hot workspace records
// the last write of one resource (workspace settings use kind
// "workspace" and an empty name).
func VersionKey(workspaceID string, kind Kind, name, version string) string {
	return "lww/" + workspaceID + "/" + string(kind) + "/" + name + "/" + version
}

// ConflictKeyPrefix is the settings prefix of a workspace's conflicts.
func ConflictKeyPrefix(workspaceID string) string { return "conflict/" + workspaceID + "/" }
