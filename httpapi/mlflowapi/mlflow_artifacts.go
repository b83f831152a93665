package mlflowapi

import (
	"bufio"
	"io"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// MLflow's artifact proxy (mlflow-artifacts:/ URIs): a run's artifact_uri
// mlflow-artifacts:/<experiment_id>/<run_id>/artifacts makes MLflow's
// client upload, download, list and delete artifacts under
// /api/2.0/mlflow-artifacts/artifacts/<experiment_id>/<run_id>/artifacts/<path>.
// The bytes stream through; nothing is held whole in memory.

// mlflowArtifactsPrefix is where MLflow clients find the artifact proxy.
const mlflowArtifactsPrefix = "/api/2.0/mlflow-artifacts/artifacts"

// mlflowArtifactRoutes serves the artifact proxy.
func (h *Handler) mlflowArtifactRoutes(m *http.ServeMux, base string, fromPath bool) {
	p := base + mlflowArtifactsPrefix
	m.Handle("PUT "+p+"/{path...}", h.mlflow(h.mlflowPutArtifact, fromPath))
	m.Handle("GET "+p+"/{path...}", h.mlflow(h.mlflowGetArtifact, fromPath))
	m.Handle("DELETE "+p+"/{path...}", h.mlflow(h.mlflowDeleteArtifact, fromPath))
	m.Handle("GET "+p, h.mlflow(h.mlflowListArtifacts, fromPath))
	m.Handle(p+"/", h.mlflow(h.mlflowUnsupported, fromPath))
}

func (h *Handler) artifacts() (tandem.ArtifactService, error) {
	if h.Artifacts == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server does not store MLflow artifacts")
	}
	return h.Artifacts, nil
}

func (h *Handler) mlflowPutArtifact(w http.ResponseWriter, r *http.Request, ws string) error {
	a, err := h.artifacts()
	if err != nil {
		return err
	}
	if _, err := a.PutArtifact(r.Context(), ws, r.PathValue("path"), r.ContentLength, r.Body); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

// artifactPeek is how much of a download is read before the status is
// sent: a small artifact whose stored bytes are corrupt is an error
// response; a larger one is cut short, which the client sees as a failed
// download.
const artifactPeek = 64 << 10

func (h *Handler) mlflowGetArtifact(w http.ResponseWriter, r *http.Request, ws string) error {
	a, err := h.artifacts()
	if err != nil {
		return err
	}
	f, rc, err := a.OpenArtifact(r.Context(), ws, r.PathValue("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, artifactPeek)
	if _, err := br.Peek(artifactPeek); err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.Header().Set(headerSHA256, f.SHA256)
	w.WriteHeader(http.StatusOK)
	if err := copyVerified(w, br); err != nil {
		h.logger().Error("artifact download failed", "workspace", ws, "path", r.PathValue("path"), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// copyVerified copies a verifying reader to w, holding back the last
// chunk read until the reader has reported a clean end: its final Read is
// the one that fails when the bytes do not match, and the client must not
// have received them all by then.
func copyVerified(w io.Writer, r io.Reader) error {
	buf, pending := make([]byte, 32<<10), make([]byte, 0, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(pending); werr != nil {
				return werr
			}
			pending = append(pending[:0], buf[:n]...)
		}
		if err == io.EOF {
			_, werr := w.Write(pending)
			return werr
		}
		if err != nil {
			return err
		}
	}
}

func (h *Handler) mlflowDeleteArtifact(w http.ResponseWriter, r *http.Request, ws string) error {
	a, err := h.artifacts()
	if err != nil {
		return err
	}
	if err := a.DeleteArtifact(r.Context(), ws, r.PathValue("path")); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowListArtifacts(w http.ResponseWriter, r *http.Request, ws string) error {
	a, err := h.artifacts()
	if err != nil {
		return err
	}
	dir := r.URL.Query().Get("path")
	if dir == "" {
		return tandem.Errorf(tandem.EInvalid, "Tandem lists a run's artifacts only: give path=<experiment_id>/<run_id>/artifacts[/<dir>]").WithTarget("path")
	}
	files, err := a.ListArtifacts(r.Context(), ws, dir)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
	return nil
}
