package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is how times are stored: UTC, microseconds, fixed width, so
// that the text sorts in time order and reads well in any SQL tool.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// storedTime returns t as it comes back from the database.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func formatTime(t time.Time) string { return storedTime(t).Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s, err)
	}
	return t, nil
}

// normalizeTime sets *t to what the database stores for it.
func normalizeTime(t *time.Time) {
	if t != nil {
		*t = storedTime(*t)
	}
}

// formatNullTime returns nil (SQL NULL) for a nil time.
func formatNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// rawText returns a JSON document as text, or nil (SQL NULL) when empty.
func rawText(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func parseRaw(s sql.NullString) json.RawMessage {
	if !s.Valid || s.String == "" {
		return nil
	}
	return json.RawMessage(s.String)
}

// jsonText encodes v as JSON text, or nil (SQL NULL) when empty is true:
// an empty map or slice is stored as NULL and comes back as nil.
func jsonText(v any, empty bool) (any, error) {
	if empty {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// parseJSON decodes s into v, leaving v alone for NULL.
func parseJSON(s sql.NullString, v any) error {
	if !s.Valid || s.String == "" {
		return nil
	}
	return json.Unmarshal([]byte(s.String), v)
}
