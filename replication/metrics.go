package replication

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
)

type metrics struct {
	lag, entries, bytes *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"pair", "workspace", "primary_region"}
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_replication_lag_seconds",
			Help: "Age of the oldest change not yet applied in this region (the live RPO); 0 when caught up.",
		}, labels),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_replication_entries_behind",
			Help: "Change-log entries the primary has that this region has not applied.",
		}, labels),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tandem_replication_bytes_behind",
			Help: "Bytes of blobs the current batch still has to copy.",
		}, labels),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.entries, m.bytes)
	}
	return m
}

func pairLabel(p tandem.Pair) []string {
	return []string{p.WorkspaceID, p.Workspace, p.PeerRegion}
}

func (m *metrics) observe(p tandem.Pair, s tandem.ReplicationStatus) {
	l := pairLabel(p)
	m.lag.WithLabelValues(l...).Set(s.LagSeconds)
	m.entries.WithLabelValues(l...).Set(float64(s.EntriesBehind))
	m.bytes.WithLabelValues(l...).Set(float64(s.BytesBehind))
}

func (m *metrics) forget(p tandem.Pair) {
	l := pairLabel(p)
	m.lag.DeleteLabelValues(l...)
	m.entries.DeleteLabelValues(l...)
	m.bytes.DeleteLabelValues(l...)
}

func unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
