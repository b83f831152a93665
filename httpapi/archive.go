package httpapi

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
)

// headerPassphrase carries an import's passphrase (base64), so that it
// never appears in a URL or a log line.
const headerPassphrase = "X-Tandem-Passphrase"

// headerIdentity carries an import's identity (the private key its
// secrets were encrypted to), as its text.
const headerIdentity = "X-Tandem-Identity"

var _ tandem.ArchiveService = (*Client)(nil)

func (s *Server) archiveRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("POST /v1/workspaces/{ws}/export", s.handleExport)
	v1("POST /v1/workspaces/{ws}/import", s.handleImport)
	v1("POST /v1/workspaces/{ws}/snapshots", s.handleSnapshotWorkspace)
	v1("POST /v1/workspaces/restore", s.handleRestore)
}

func (s *Server) archives() (tandem.ArchiveService, error) {
	if s.Archives == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server does not export or import workspaces")
	}
	return s.Archives, nil
}

// lazyWriter sends the 200 and the tar content type with the first byte,
// so that an export that fails before it writes anything still answers
// with a JSON error.
type lazyWriter struct {
	w     http.ResponseWriter
	wrote bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.wrote {
		l.wrote = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	a, err := s.archives()
	if err != nil {
		return err
	}
	var opts tandem.ExportOptions
	if err := decode(r, &opts); err != nil {
		return err
	}
	lw := &lazyWriter{w: w}
	err = a.ExportWorkspace(r.Context(), r.PathValue("ws"), opts, lw)
	if err != nil && lw.wrote {
		// Headers are out: break the connection so that the client sees a
		// failed transfer, never a clean end of a short archive.
		s.Logger.Error("export stream failed", "workspace", r.PathValue("ws"), "err", err)
		panic(http.ErrAbortHandler)
	}
	return err
}

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	a, err := s.archives()
	if err != nil {
		return err
	}
	var opts tandem.ImportOptions
	if p := r.Header.Get(headerPassphrase); p != "" {
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return tandem.Errorf(tandem.EInvalid, "%s is not base64", headerPassphrase)
		}
		opts.Passphrase = string(b)
	}
	opts.Identity = r.Header.Get(headerIdentity)
	rep, err := a.ImportWorkspace(r.Context(), r.PathValue("ws"), opts, r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) error {
	a, err := s.archives()
	if err != nil {
		return err
	}
	var opts tandem.RestoreOptions
	if err := decode(r, &opts); err != nil {
		return err
	}
	rep, err := a.RestoreWorkspace(r.Context(), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleSnapshotWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, err := s.archives()
	if err != nil {
		return err
	}
	info, err := a.SnapshotWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

// --- the client side ---

// ExportWorkspace streams the server's archive of a workspace to w.
func (c *Client) ExportWorkspace(ctx context.Context, name string, opts tandem.ExportOptions, w io.Writer) error {
	resp, err := c.do(ctx, request{method: http.MethodPost, path: wsPath(name, "export"), body: jsonBody(opts), ctype: "application/json"})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return tandem.Errorf(tandem.EUnavailable, "the export stream broke off: %v (the server log says why)", err)
	}
	return nil
}

// ImportWorkspace sends an archive to the server. A body that is an
// io.ReadSeeker is sent again to the primary after a NotPrimary answer.
func (c *Client) ImportWorkspace(ctx context.Context, name string, opts tandem.ImportOptions, body io.Reader) (*tandem.ImportReport, error) {
	return c.importWorkspace(ctx, name, opts, body, 0)
}

// ImportWorkspaceSized is ImportWorkspace with the body's length known, so
// that it is sent with a Content-Length.
func (c *Client) ImportWorkspaceSized(ctx context.Context, name string, opts tandem.ImportOptions, body io.Reader, size int64) (*tandem.ImportReport, error) {
	return c.importWorkspace(ctx, name, opts, body, size)
}

func (c *Client) importWorkspace(ctx context.Context, name string, opts tandem.ImportOptions, body io.Reader, size int64) (*tandem.ImportReport, error) {
	req := request{method: http.MethodPost, path: wsPath(name, "import"), body: body, size: size, ctype: "application/x-tar"}
	req.header = http.Header{}
	if opts.Passphrase != "" {
		req.header.Set(headerPassphrase, base64.StdEncoding.EncodeToString([]byte(opts.Passphrase)))
	}
	if opts.Identity != "" {
		req.header.Set(headerIdentity, strings.TrimSpace(opts.Identity))
	}
	var rep tandem.ImportReport
	if err := c.callRaw(ctx, req, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// RestoreWorkspace asks the server to rebuild a workspace from storage.
func (c *Client) RestoreWorkspace(ctx context.Context, opts tandem.RestoreOptions) (*tandem.RestoreReport, error) {
	var rep tandem.RestoreReport
	if err := c.call(ctx, http.MethodPost, "/v1/workspaces/restore", nil, opts, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// SnapshotWorkspace asks the server to write a metadata snapshot now.
func (c *Client) SnapshotWorkspace(ctx context.Context, name string) (*tandem.SnapshotInfo, error) {
	var info tandem.SnapshotInfo
	if err := c.call(ctx, http.MethodPost, wsPath(name, "snapshots"), nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
