package cmdutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandemml/tandem"
)

// Environment variables that hold connection settings.
const (
	EnvEndpoint  = "TANDEM_ENDPOINT"  // comma-separated server URLs, in preference order
	EnvToken     = "TANDEM_TOKEN"     // a bearer token
	EnvWorkspace = "TANDEM_WORKSPACE" // the workspace name
)

// DefaultEndpoint is used when no flag, variable or config file names one.
const DefaultEndpoint = "http://127.0.0.1:7070"

// configLocations are the places, relative to each directory on the walk up
// from the working directory, where a config file is looked for, in order.
// The first two are Tandem's; the last is where Azure ML keeps its own.
var configLocations = []string{
	"config.json",
	filepath.Join(".tandem", "config.json"),
	filepath.Join(".azureml", "config.json"),
}

// ConfigFile is the content of config.json. It is a superset of Azure ML's
// workspace config file: Azure's subscription_id and resource_group are
// accepted (and any other key ignored), and Tandem adds the server endpoints
// and where to read the token from. It never holds a token itself.
type ConfigFile struct {
	SubscriptionID string   `json:"subscription_id,omitempty"`
	ResourceGroup  string   `json:"resource_group,omitempty"`
	WorkspaceName  string   `json:"workspace_name,omitempty"`
	Endpoints      []string `json:"endpoints,omitempty"`
	// TokenFile is the path of a file holding the token. A relative path is
	// relative to the directory of the config file.
	TokenFile string `json:"token_file,omitempty"`
	// MLflowTrackingURI is the workspace's MLflow tracking URI, for
	// MLflow clients (MLFLOW_TRACKING_URI); the CLI does not read it.
	MLflowTrackingURI string `json:"mlflow_tracking_uri,omitempty"`
}

// FindConfig returns the config file that applies in dir: the first of
// config.json, .tandem/config.json and .azureml/config.json found in dir or
// in the nearest parent directory that has one. It returns "" when there is
// none.
func FindConfig(dir string) string {
	dir = filepath.Clean(dir)
	for {
		for _, loc := range configLocations {
			p := filepath.Join(dir, loc)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// LoadConfig reads and parses the config file at path. A file that is not a
// JSON object is an EInvalid error naming the file.
func LoadConfig(path string) (*ConfigFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, tandem.Errorf(tandem.ENotFound, "config file %s does not exist", path)
		}
		return nil, fmt.Errorf("read config file: %w", err)
	}
	var cfg ConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "config file %s is not valid: %v", path, jsonProblem(err))
	}
	return &cfg, nil
}

// jsonProblem describes a JSON decoding error without Go type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be a %s", typ.Field, jsonTypeName(typ.Type.Kind().String()))
		}
		return "want a JSON object"
	}
	return err.Error()
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// ConnectionFlags are the connection settings given on the command line.
// Empty fields were not given.
type ConnectionFlags struct {
	Endpoints  []string
	Token      string
	Workspace  string
	ConfigPath string
}

// Connection holds resolved connection settings.
type Connection struct {
	Endpoints []string // never empty
	Token     string   // "" when none was found
	TokenFile string   // the file the token was read from, if any
	Workspace string   // "" when none was configured
	// ConfigPath is the config file that was read, "" when none was.
	ConfigPath string
}

// ResolveConnection resolves each setting from, in order: flags, the
// environment (through getenv), and the config file. The config file is the
// one named by flags.ConfigPath, else the one FindConfig finds from dir; it is
// read only when --config is given or a setting is still missing after flags
// and environment. Relative paths are relative to dir.
func ResolveConnection(flags ConnectionFlags, getenv func(string) string, dir string) (*Connection, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	conn := &Connection{Token: flags.Token, Workspace: flags.Workspace}

	var err error
	if conn.Endpoints, err = parseEndpoints(flags.Endpoints, "--endpoint"); err != nil {
		return nil, err
	}
	if len(conn.Endpoints) == 0 {
		if conn.Endpoints, err = parseEndpoints(strings.Split(getenv(EnvEndpoint), ","), EnvEndpoint); err != nil {
			return nil, err
		}
	}
	if conn.Token == "" {
		conn.Token = strings.TrimSpace(getenv(EnvToken))
	}
	if conn.Workspace == "" {
		conn.Workspace = getenv(EnvWorkspace)
	}

	complete := len(conn.Endpoints) > 0 && conn.Token != "" && conn.Workspace != ""
	if flags.ConfigPath != "" {
		conn.ConfigPath = absPath(dir, flags.ConfigPath)
	} else if !complete {
		conn.ConfigPath = FindConfig(dir)
	}
	if conn.ConfigPath != "" {
		if err := conn.applyConfig(); err != nil {
			return nil, err
		}
	}

	if len(conn.Endpoints) == 0 {
		conn.Endpoints = []string{DefaultEndpoint}
	}
	return conn, nil
}

// applyConfig fills the settings still missing from the config file.
func (c *Connection) applyConfig() error {
	cfg, err := LoadConfig(c.ConfigPath)
	if err != nil {
		return err
	}
	if len(c.Endpoints) == 0 {
		if c.Endpoints, err = parseEndpoints(cfg.Endpoints, c.ConfigPath); err != nil {
			return err
		}
	}
	if c.Workspace == "" {
		c.Workspace = cfg.WorkspaceName
	}
	if c.Token == "" && cfg.TokenFile != "" {
		c.TokenFile = absPath(filepath.Dir(c.ConfigPath), cfg.TokenFile)
		if c.Token, err = readTokenFile(c.TokenFile, c.ConfigPath); err != nil {
			return err
		}
	}
	return nil
}

// readTokenFile returns the token stored in path, without surrounding
// space. configPath names the config file that pointed at it.
func readTokenFile(path, configPath string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", tandem.Errorf(tandem.EUnauthorized,
			"token file %s (token_file in %s) does not exist", path, configPath)
	} else if err != nil {
		return "", fmt.Errorf("read token file (token_file in %s): %w", configPath, err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", tandem.Errorf(tandem.EUnauthorized, "token file %s (token_file in %s) is empty", path, configPath)
	}
	return tok, nil
}

// parseEndpoints splits comma-separated entries, drops empty ones and checks
// that each is an http or https URL. source names where they came from.
func parseEndpoints(values []string, source string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimRight(strings.TrimSpace(e), "/")
			if e == "" {
				continue
			}
			u, err := url.Parse(e)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, tandem.Errorf(tandem.EInvalid,
					"invalid endpoint %q in %s: want a URL such as %s", e, source, DefaultEndpoint)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// RequireToken returns an EUnauthorized error that says how to provide a
// token when none was found.
func (c *Connection) RequireToken() error {
	if c.Token != "" {
		return nil
	}
	return tandem.Errorf(tandem.EUnauthorized,
		"no token found: pass --token, set %s, or add \"token_file\" to config.json "+
			"(a local server keeps its admin token in DATA/admin.token; 'tandem up' writes a config.json that uses it)",
		EnvToken)
}

// RequireWorkspace returns an EInvalid error that says how to name a
// workspace when none was configured.
func (c *Connection) RequireWorkspace() error {
	if c.Workspace != "" {
		return nil
	}
	return tandem.Errorf(tandem.EInvalid,
		"no workspace given: pass --workspace, set %s, or add \"workspace_name\" to config.json", EnvWorkspace)
}

// absPath returns p made absolute against dir.
func absPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// ConfigStatus tells what a config file path currently holds.
type ConfigStatus int

const (
	ConfigMissing ConfigStatus = iota // no file
	ConfigTandem                      // a config file Tandem wrote (it lists endpoints)
	ConfigForeign                     // some other file: Azure's, another tool's, or not JSON
)

// StatConfig reports whether path holds nothing, a Tandem config file, or a
// file Tandem must not overwrite.
func StatConfig(path string) ConfigStatus {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ConfigMissing
	} else if err != nil {
		return ConfigForeign
	}
	var cfg ConfigFile
	if json.Unmarshal(data, &cfg) != nil || len(cfg.Endpoints) == 0 {
		return ConfigForeign
	}
	return ConfigTandem
}

// WriteConfig writes cfg to path atomically (temporary file, then rename),
// unless path holds a file that is not Tandem's, which is left alone and
// reported as an EConflict error.
func WriteConfig(path string, cfg *ConfigFile) error {
	if StatConfig(path) == ConfigForeign {
		return tandem.Errorf(tandem.EConflict,
			"%s exists and is not a Tandem config file (it lists no endpoints); left it unchanged", path)
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o644)
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place, so that path never holds a partial file.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
