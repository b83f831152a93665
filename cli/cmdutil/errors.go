package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
)

// CodeInterrupted is the CLI's own code for a run stopped by SIGINT or
// SIGTERM; it never comes from a server.
const CodeInterrupted = "Interrupted"

// exitCodes maps error codes to exit statuses. It is the only place exit
// statuses are chosen; docs/cli.md lists it. A code missing here (one a newer
// server sends) exits 1.
var exitCodes = map[string]int{
	"":                    0,
	tandem.EInternal:      1,
	tandem.EInvalid:       2, // includes usage errors: bad flags, arguments or values
	tandem.ETooLarge:      2,
	tandem.ENotFound:      3,
	tandem.EConflict:      4,
	tandem.EUnauthorized:  5,
	tandem.EForbidden:     5,
	tandem.EUnavailable:   6, // includes a server that cannot be reached
	tandem.ENotPrimary:    7,
	tandem.ECorrupt:       8,
	tandem.EQuotaExceeded: 9,
	CodeInterrupted:       130,
}

// ExitStatus is the exit status for an error code.
func ExitStatus(code string) int {
	if s, ok := exitCodes[code]; ok {
		return s
	}
	return exitCodes[tandem.EInternal]
}

// ErrorCode classifies err. running tells whether a command's own code ran:
// an error before that (unknown command or flag, missing required flag,
// stray argument) is a usage error. The client reports servers it cannot
// reach as EUnavailable; other errors without a code happened here.
func ErrorCode(ctx context.Context, err error, running bool) string {
	switch {
	case err == nil:
		return ""
	case !running:
		return tandem.EInvalid
	case ctx.Err() != nil:
		return CodeInterrupted
	case errors.As(err, new(*tandem.Error)):
		return tandem.ErrorCode(err)
	case errors.Is(err, fs.ErrNotExist):
		return tandem.ENotFound
	}
	return tandem.EInternal
}

// ErrorText is the one-line message for err. Messages of *tandem.Error are
// written for users; anything else happened in this process and its text is
// shown as it is.
func ErrorText(err error, code string, cmd *cobra.Command) string {
	var e *tandem.Error
	switch {
	case code == tandem.EInvalid && !errors.As(err, &e) && cmd != nil:
		return fmt.Sprintf("%v (see '%s --help')", err, cmd.CommandPath())
	case code == CodeInterrupted:
		return "interrupted"
	}
	return Describe(err)
}

// Describe returns err's text with the user's message of any *tandem.Error
// in it in place of that error's code-prefixed form, keeping the context
// that wrappers added.
func Describe(err error) string {
	var e *tandem.Error
	if errors.As(err, &e) {
		return strings.Replace(err.Error(), e.Error(), userMessage(e), 1)
	}
	return err.Error()
}

// userMessage is e's message with its target, when the target adds
// something.
func userMessage(e *tandem.Error) string {
	switch {
	case e.Target == "" || strings.Contains(e.Message, e.Target):
		return e.Message
	case e.Code == tandem.ENotPrimary:
		return fmt.Sprintf("%s (primary: %s)", e.Message, e.Target)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Target)
}
