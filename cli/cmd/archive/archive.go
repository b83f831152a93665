package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	archivefmt "github.com/tandemml/tandem/archive"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
)

// readPassphrase reads a passphrase file; one trailing newline is not part
// of it.
func readPassphrase(f *cmdutil.Factory, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.Path(file))
	if err != nil {
		return "", tandem.Errorf(tandem.EInvalid, "read passphrase file: %v", err).WithTarget("passphrase-file")
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", tandem.Errorf(tandem.EInvalid, "passphrase file %s is empty", file).WithTarget("passphrase-file")
	}
	return s, nil
}

// parseSince accepts an RFC 3339 time, a date (UTC midnight), or a
// duration ago ("24h").
func parseSince(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		t := now.Add(-d).UTC()
		return &t, nil
	}
	return nil, tandem.Errorf(tandem.EInvalid, "invalid --since %q: use an RFC 3339 time (2026-11-27T03:00:00Z), a date (2026-11-27) or a duration ago (24h)", s).WithTarget("since")
}

// ExportResult is what `workspace export -O json` prints.
type ExportResult struct {
	Workspace string     `json:"workspace"`
	File      string     `json:"file"`
	Bytes     int64      `json:"bytes"`
	SHA256    string     `json:"sha256"`
	Include   []string   `json:"include"`
	Since     *time.Time `json:"since,omitempty"`
}

// NewCmdExport returns `workspace export`, which writes a workspace to an archive file.
func NewCmdExport(f *cmdutil.Factory) *cobra.Command {
	var (
		name, output, since, passFile, recipient string
		include                                  []string
	)
	cmd := &cobra.Command{
		Use:   "export --name NAME --output FILE.tar [--include assets,jobs,...] [--since TIME]",
		Short: "Write a workspace to an archive (a plain tar; docs/archive-format.md)",
		Long: "Stream an archive of the workspace from the server to FILE: every resource (asset versions with\n" +
			"their Azure ML YAML, job records with their logs, outputs and code, notebooks, datastores), the\n" +
			"blobs behind them, and a manifest with the sha256 and size of every entry. Categories:\n" +
			"assets, jobs, notebooks, datastores, secrets, other (default: all but secrets). Secrets are\n" +
			"exported only with --include secrets and a --passphrase-file (scrypt, AES-256-GCM) or a\n" +
			"--recipient key (HPKE, X25519), encrypted, never in clear.\n" +
			"--since limits the archive to resources updated at or after TIME, for incremental sync.\n" +
			"FILE appears only once the archive is complete.",
		Example: "  tandem workspace export --name mlw-prod --output prod.tar\n" +
			"  tandem workspace export --name mlw-prod --output prod-secrets.tar --include all --passphrase-file pass.txt\n" +
			"  tandem workspace export --name mlw-prod --output last-day.tar --since 24h",
		Args: cobra.NoArgs,
	}
	// --output names the archive file, as the command line has
	// it; the summary's format is --output-format (-O).
	format := cmdutil.FormatTable
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	flags := cmd.Flags()
	flags.VarP(&format, "output-format", "O", "format of the summary printed: "+cmdutil.FormatNames())
	flags.StringVar(&output, "output", "", "archive file to write")
	flags.StringSliceVar(&include, "include", nil, "categories to include: assets, jobs, notebooks, datastores, secrets, other, or all")
	flags.StringVar(&since, "since", "", "only resources updated at or after this time (RFC 3339, a date, or a duration ago such as 24h)")
	flags.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase that encrypts secrets (with --include secrets)")
	flags.StringVar(&recipient, "recipient", "", "encrypt secrets to this recipient key, or the file holding it, made by 'tandem workspace archive-key' (instead of a passphrase)")
	cmd.MarkFlagRequired("output")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts := tandem.ExportOptions{Include: include}
		var err error
		if opts.Since, err = parseSince(since, time.Now()); err != nil {
			return err
		}
		if opts.Passphrase, err = readPassphrase(f, passFile); err != nil {
			return err
		}
		if opts.RecipientKey, err = readRecipient(f, recipient); err != nil {
			return err
		}
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		dest := f.Path(output)
		tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
		if err != nil {
			return tandem.Errorf(tandem.EInvalid, "create %s: %v", output, err).WithTarget("output")
		}
		defer os.Remove(tmp.Name()) // a no-op after the rename
		h := sha256.New()
		cw := &countWriter{}
		bar := f.Progress(-1, "export "+name)
		err = client.ExportWorkspace(cmd.Context(), name, opts, io.MultiWriter(tmp, h, cw, bar))
		bar.Finish()
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), dest); err != nil {
			return err
		}
		res := ExportResult{Workspace: name, File: output, Bytes: cw.n, SHA256: hex.EncodeToString(h.Sum(nil)), Include: include, Since: opts.Since}
		return cmdutil.WriteOutput(f.Env.Stdout, format, res, cmdutil.Details{
			{"Workspace", res.Workspace}, {"Archive", res.File}, {"Size", cmdutil.FormatSize(res.Bytes)}, {"SHA256", res.SHA256},
		})
	}
	return cmd
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// NewCmdImport returns `workspace import`, which reads an archive into a workspace.
func NewCmdImport(f *cmdutil.Factory) *cobra.Command {
	var name, file, region, passFile, idFile string
	cmd := &cobra.Command{
		Use:   "import --file FILE.tar --name NAME [--region R]",
		Short: "Read an archive into a workspace, creating it when it does not exist",
		Long: "Send an archive to the server, which verifies all of it (every entry's sha256 against the\n" +
			"manifest and the resources) before it writes anything, then writes each resource with its\n" +
			"blobs. Version numbers, times, tags, descriptions and lineage are kept. Importing the same\n" +
			"archive again, or a --since archive after a full one, adds only what is new. A resource the\n" +
			"workspace holds with other content is a conflict: it is listed, never overwritten, and the\n" +
			"command exits with status 4 after writing everything else.\n\n" +
			"The import runs in the region the CLI talks to; --region only checks that it is region R.",
		Example: "  tandem workspace import --file prod.tar --name mlw-copy\n" +
			"  tandem workspace import --file prod.tar --name mlw-dr --endpoint http://westus:7070 --region westus",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	flags := cmd.Flags()
	flags.StringVar(&file, "file", "", "archive file to read")
	flags.StringVar(&region, "region", "", "require the server to be this region")
	flags.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase the archive's secrets were encrypted with")
	flags.StringVar(&idFile, "identity-file", "", "file holding the identity (private key) the archive's secrets were encrypted to")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var opts tandem.ImportOptions
		var err error
		if opts.Passphrase, err = readPassphrase(f, passFile); err != nil {
			return err
		}
		if idFile != "" {
			b, err := os.ReadFile(f.Path(idFile))
			if err != nil {
				return tandem.Errorf(tandem.EInvalid, "read identity file: %v", err).WithTarget("identity-file")
			}
			opts.Identity = identityLine(string(b))
		}
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		if region != "" {
			info, err := client.Info(cmd.Context())
			if err != nil {
				return err
			}
			if info.Region != region {
				return tandem.Errorf(tandem.EInvalid, "the server at %s is region %q, not %q: point --endpoint at a server of region %q",
					conn.Endpoints[0], info.Region, region, region).WithTarget("region")
			}
		}
		rep, err := sendArchive(cmd.Context(), f, client, name, file, opts)
		if err != nil {
			return err
		}
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, rep, importView{rep}); err != nil {
			return err
		}
		for _, w := range rep.Warnings {
			f.Note("warning: %s", w)
		}
		return conflictsError(rep)
	}
	return cmd
}

// sendArchive sends the archive file to the server to import into
// workspace name, with a progress bar.
func sendArchive(ctx context.Context, f *cmdutil.Factory, client *httpapi.Client, name, file string, opts tandem.ImportOptions) (*tandem.ImportReport, error) {
	fh, err := os.Open(f.Path(file))
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "open archive: %v", err).WithTarget("file")
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	// A regular file can be sent again (to the primary a NotPrimary
	// answer names); a pipe (/dev/stdin) streams once.
	var body io.Reader
	size := int64(-1)
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	bar := f.Progress(size, "import "+filepath.Base(file))
	if size >= 0 {
		body = bar.Reader(fh)
	} else {
		body, size = io.TeeReader(fh, bar), 0
	}
	rep, err := client.ImportWorkspaceSized(ctx, name, opts, body, size)
	bar.Finish()
	return rep, err
}

func conflictsError(rep *tandem.ImportReport) error {
	if len(rep.Conflicts) == 0 {
		return nil
	}
	return tandem.Errorf(tandem.EConflict, "%d resource(s) not written: the workspace holds them with other content (listed above); everything else was written",
		len(rep.Conflicts))
}

// importView is the table form of an import report.
type importView struct{ r *tandem.ImportReport }

func (v importView) WriteTable(w io.Writer) error {
	r := v.r
	created := "no (existing)"
	if r.WorkspaceCreated {
		created = "yes"
	}
	if err := (cmdutil.Details{
		{"Workspace", r.Workspace},
		{"ID", r.ID},
		{"Created", created},
		{"Source", fmt.Sprintf("%s (%s) in region %s", r.SourceWorkspace, r.SourceID, r.SourceRegion)},
		{"Created resources", strconv.FormatInt(r.Resources[tandem.ImportCreated], 10)},
		{"Updated resources", strconv.FormatInt(r.Resources[tandem.ImportUpdated], 10)},
		{"Unchanged resources", strconv.FormatInt(r.Resources[tandem.ImportUnchanged], 10)},
		{"Conflicts", strconv.Itoa(len(r.Conflicts))},
		{"Blobs copied", fmt.Sprintf("%d (%s)", r.BlobsCopied, cmdutil.FormatSize(r.BytesCopied))},
		{"Blobs already present", strconv.FormatInt(r.BlobsPresent, 10)},
	}).WriteTable(w); err != nil {
		return err
	}
	if len(r.Kinds) > 0 {
		fmt.Fprintln(w)
		t := &cmdutil.Table{Header: []string{"KIND", "ACTION", "COUNT"}}
		for _, k := range slices.Sorted(maps.Keys(r.Kinds)) {
			kind, action, _ := strings.Cut(k, "/")
			t.Add(kind, action, strconv.FormatInt(r.Kinds[k], 10))
		}
		if err := t.WriteTable(w); err != nil {
			return err
		}
	}
	if len(r.Conflicts) > 0 {
		fmt.Fprintln(w)
		t := &cmdutil.Table{Header: []string{"CONFLICT", "NAME", "VERSION", "REASON"}}
		for _, c := range r.Conflicts {
			t.Add(string(c.Kind), c.Name, c.Version, c.Reason)
		}
		return t.WriteTable(w)
	}
	return nil
}

// NewCmdRestore returns `workspace restore`, which rebuilds a workspace from the snapshots in its storage.
func NewCmdRestore(f *cmdutil.Factory) *cobra.Command {
	var opts tandem.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore --workspace-id ID [--storage URL] [--name NAME]",
		Short: "Rebuild a workspace from the metadata snapshots and blobs in its storage",
		Long: "Rebuild a workspace the region lost (its database was deleted or restored from an old backup)\n" +
			"from the newest readable snapshot under workspaces/<id>/snapshots/ in storage and the blobs next\n" +
			"to it. The workspace keeps its id, its resources (versions, times, tags) and its workspace tokens.\n" +
			"Blobs in storage that no resource of the snapshot references (written after it) are listed as\n" +
			"unattached. Runs in the region the CLI talks to (region admin token); --storage defaults to that\n" +
			"region's own storage, another URL is read by the server and its blobs copied. Running it again\n" +
			"adds only what is missing.",
		Example: "  tandem workspace restore --workspace-id 6f1c...\n" +
			"  tandem workspace restore --workspace-id 6f1c... --storage file:///backup/storage --name mlw-restored",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	flags := cmd.Flags()
	flags.StringVar(&opts.WorkspaceID, "workspace-id", "", "id of the workspace (its folder under workspaces/ in storage)")
	flags.StringVar(&opts.Storage, "storage", "", "storage URL to read (default: the server's own storage)")
	flags.StringVarP(&opts.Name, "name", "n", "", "name of the restored workspace (default: its name in the snapshot)")
	cmd.MarkFlagRequired("workspace-id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		rep, err := client.RestoreWorkspace(cmd.Context(), opts)
		if err != nil {
			return err
		}
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, rep, restoreView{rep}); err != nil {
			return err
		}
		for _, w := range rep.Warnings {
			f.Note("warning: %s", w)
		}
		if rep.UnattachedCount > 0 {
			f.Note("note: %d blob(s) (%s) in storage are newer than the snapshot or unreferenced and were not attached; -o json lists them",
				rep.UnattachedCount, cmdutil.FormatSize(rep.UnattachedBytes))
		}
		return conflictsError(&rep.ImportReport)
	}
	return cmd
}

type restoreView struct{ r *tandem.RestoreReport }

func (v restoreView) WriteTable(w io.Writer) error {
	r := v.r
	if err := (cmdutil.Details{
		{"Snapshot", r.Snapshot},
		{"Snapshot time", cmdutil.FormatTime(r.SnapshotTime)},
		{"Last change", cmdutil.FormatTimePtr(r.LastChangeAt)},
		{"Tokens restored", strconv.FormatInt(r.Tokens, 10)},
		{"Unattached blobs", fmt.Sprintf("%d (%s)", r.UnattachedCount, cmdutil.FormatSize(r.UnattachedBytes))},
	}).WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := (importView{&r.ImportReport}).WriteTable(w); err != nil {
		return err
	}
	if len(r.Unattached) > 0 {
		fmt.Fprintln(w)
		t := &cmdutil.Table{Header: []string{"UNATTACHED BLOB", "SIZE"}}
		for _, b := range r.Unattached {
			t.Add(b.Key, cmdutil.FormatSize(b.Size))
		}
		return t.WriteTable(w)
	}
	return nil
}

// NewCmdSnapshot returns `workspace snapshot`, which writes a metadata snapshot now.
func NewCmdSnapshot(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "snapshot [--name NAME]",
		Short: "Write a metadata snapshot of a workspace to its storage now (region admin)",
		Long: "The server snapshots every workspace's metadata to workspaces/<id>/snapshots/ every\n" +
			"--snapshot-interval (default 1h); this writes one now, e.g. before risky maintenance.\n" +
			"`tandem workspace restore` rebuilds a workspace from the newest one.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		info, err := client.SnapshotWorkspace(cmd.Context(), name)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, info, cmdutil.Details{
			{"Workspace", info.Workspace}, {"ID", info.WorkspaceID}, {"Snapshot", info.Name}, {"Prefix", info.Prefix},
			{"Last seq", strconv.FormatInt(info.LastSeq, 10)}, {"Blob refs", strconv.FormatInt(info.BlobRefs, 10)},
		})
	}
	return cmd
}

// readRecipient returns a recipient key given as text or as a file holding it.
func readRecipient(f *cmdutil.Factory, v string) (string, error) {
	if v == "" || strings.HasPrefix(v, archivefmt.RecipientPrefix) {
		return v, nil
	}
	b, err := os.ReadFile(f.Path(v))
	if err != nil {
		return "", tandem.Errorf(tandem.EInvalid, "--recipient is neither a recipient key (%s...) nor a readable file: %v", archivefmt.RecipientPrefix, err).WithTarget("recipient")
	}
	return strings.TrimSpace(string(b)), nil
}

// NewCmdArchiveKey returns `workspace archive-key`, which makes a key pair for archived secrets.
func NewCmdArchiveKey(f *cmdutil.Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "archive-key --output FILE",
		Short: "Create a key pair for encrypting the secrets of workspace archives",
		Long: "Write a new identity (X25519 private key) to FILE (mode 0600; an existing file is never\n" +
			"overwritten) and print its recipient (public key). Give the recipient to whoever exports\n" +
			"(`tandem workspace export --include secrets --recipient KEY`); only FILE can then import the\n" +
			"secrets (`tandem workspace import --identity-file FILE`). Encryption is HPKE (RFC 9180):\n" +
			"DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. It runs locally; no server is called.",
		Example: "  tandem workspace archive-key --output dr.key > dr.pub",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().StringVar(&output, "output", "", "file to write the identity (private key) to")
	cmd.MarkFlagRequired("output")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		id, rcpt, err := archivefmt.GenerateIdentity()
		if err != nil {
			return err
		}
		fh, err := os.OpenFile(f.Path(output), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return tandem.Errorf(tandem.EInvalid, "create identity file: %v", err).WithTarget("output")
		}
		_, err = fmt.Fprintf(fh, "# tandem archive identity; recipient: %s\n%s\n", rcpt, id)
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Path(output))
			return err
		}
		_, err = fmt.Fprintln(f.Env.Stdout, rcpt)
		return err
	}
	return cmd
}

// identityLine returns the identity line of an identity file (which may
// hold comment lines), or the whole file trimmed.
func identityLine(file string) string {
	for _, line := range strings.Split(file, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, archivefmt.IdentityPrefix) {
			return line
		}
	}
	return strings.TrimSpace(file)
}
