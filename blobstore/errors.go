package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gocloud.dev/gcerrors"

	"github.com/tandemml/tandem"
)

// fail turns an error of operation op on key into the error the store
// returns: *tandem.Error as is, a missing blob as ENotFound, an unreachable
// service as EUnavailable, cancellation wrapped, anything else wrapped as
// an internal error.
func (s *Store) fail(op, key string, err error) error {
	var te *tandem.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("blob %s %q: %w", op, key, err)
	case isNetwork(err):
		return unavailable(s.url, "%s %q: %s", op, key, describe(err))
	case s.kind == kindFile && pathInTheWay(err):
		// The file backend cannot hold both "a/b" and "a/b/c".
		if op == "put" {
			return tandem.Errorf(tandem.EConflict,
				"blob key %q collides with a blob or folder of the same path", key)
		}
		return notFound(key)
	case gcerrors.Code(err) == gcerrors.NotFound:
		return notFound(key)
	}
	return fmt.Errorf("blob store %s: %s %q: %w", s.url, op, key, err)
}

// pathInTheWay reports whether err comes from a file where a directory
// should be, or the other way round.
func pathInTheWay(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ENOTDIR, syscall.EISDIR, syscall.EEXIST, syscall.ENOTEMPTY} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func notFound(key string) error {
	return tandem.Errorf(tandem.ENotFound, "blob %q not found", key)
}

// isNetwork reports whether err is a failure to reach a service. Checked
// before NotFound: azureblob reports an unknown host as NotFound.
func isNetwork(err error) bool {
	var (
		op  *net.OpError
		dns *net.DNSError
	)
	return errors.As(err, &op) || errors.As(err, &dns)
}

// describe returns a one-line description of err: Azure's response errors
// otherwise span many lines of request and response dumps.
func describe(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("%s (HTTP %d)", re.ErrorCode, re.StatusCode)
	}
	return err.Error()
}
