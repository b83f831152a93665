package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tandemml/tandem"
)

// statusOf maps every error code to its HTTP status. It is the only place
// where statuses are chosen for errors.
var statusOf = map[string]int{
	tandem.EInvalid:       http.StatusBadRequest,
	tandem.EUnauthorized:  http.StatusUnauthorized,
	tandem.EForbidden:     http.StatusForbidden,
	tandem.ENotFound:      http.StatusNotFound,
	tandem.EMethod:        http.StatusMethodNotAllowed,
	tandem.EConflict:      http.StatusConflict,
	tandem.ETooLarge:      http.StatusRequestEntityTooLarge,
	tandem.ENotPrimary:    http.StatusMisdirectedRequest,
	tandem.ECorrupt:       http.StatusUnprocessableEntity,
	tandem.EInternal:      http.StatusInternalServerError,
	tandem.EUnavailable:   http.StatusServiceUnavailable,
	tandem.EQuotaExceeded: http.StatusTooManyRequests,
}

// codeOf is the reverse of statusOf, for responses that carry no JSON error
// (a proxy's page, say).
func codeOf(status int) string {
	for code, s := range statusOf {
		if s == status {
			return code
		}
	}
	if status >= 500 {
		return tandem.EInternal
	}
	return tandem.EInvalid
}

// writeError writes err as a JSON error. Internal errors are logged with
// their details and shown to the client without them.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := tandem.ErrorCode(err)
	e := &tandem.Error{Code: code, Message: tandem.ErrorMessage(err)}
	var te *tandem.Error
	if code != tandem.EInternal {
		if errors.As(err, &te) {
			e.Target = te.Target
		}
	} else {
		logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
