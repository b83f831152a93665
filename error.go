package tandem

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in package httpapi and to one
// exit status in the CLI. Codes are part of the API contract: never rename.
const (
	EConflict     = "Conflict"         // the resource exists, or its state forbids the operation
	EInternal     = "Internal"         // a bug or an unexpected failure; details go to the log only
	EInvalid      = "Invalid"          // the request is malformed or a value breaks a rule
	ENotFound     = "NotFound"         // the resource does not exist
	ENotPrimary   = "NotPrimary"       // the workspace is a read-only secondary; Target names the primary
	EUnauthorized = "Unauthorized"     // no token, or a token that is unknown or revoked
	EForbidden    = "Forbidden"        // the token is valid but may not do this
	ECorrupt      = "Corrupt"          // bytes failed sha256 or size verification
	EUnavailable  = "Unavailable"      // a dependency (database, storage) cannot be reached
	ETooLarge     = "TooLarge"         // the request body exceeds a limit
	EMethod       = "MethodNotAllowed" // the route exists but not for this HTTP method
)

// Error is the application error. Message is safe to show to users; Target
// names the field, resource or endpoint the error is about (optional).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

func (e *Error) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Target)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithTarget returns a copy of e with Target set.
func (e *Error) WithTarget(target string) *Error {
	c := *e
	c.Target = target
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err: the *Error's message, or
// a generic text for internal errors, whose details must not leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
