package cmdutil

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

func TestFindConfig(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		dirs  []string // extra directories to create
		from  string   // working directory, relative to the temp root
		want  string   // found file, relative to the temp root; "" for none
	}{
		{name: "ConfigJSONHere", files: map[string]string{"config.json": "{}"}, from: ".", want: "config.json"},
		{name: "TandemDirHere", files: map[string]string{".tandem/config.json": "{}"}, from: ".", want: ".tandem/config.json"},
		{name: "AzureMLDirHere", files: map[string]string{".azureml/config.json": "{}"}, from: ".", want: ".azureml/config.json"},
		{
			name: "ConfigJSONBeforeTandemDir",
			files: map[string]string{
				"config.json": "{}", ".tandem/config.json": "{}", ".azureml/config.json": "{}",
			},
			from: ".", want: "config.json",
		},
		{
			name:  "TandemDirBeforeAzureMLDir",
			files: map[string]string{".tandem/config.json": "{}", ".azureml/config.json": "{}"},
			from:  ".", want: ".tandem/config.json",
		},
		{
			name:  "WalkUp",
			files: map[string]string{"config.json": "{}"},
			dirs:  []string{"a/b/c"},
			from:  "a/b/c", want: "config.json",
		},
		{
			name:  "WalkUpToAzureMLDir",
			files: map[string]string{"a/.azureml/config.json": "{}"},
			dirs:  []string{"a/b/c"},
			from:  "a/b/c", want: "a/.azureml/config.json",
		},
		{
			name:  "NearestDirectoryWins",
			files: map[string]string{"config.json": "{}", "a/b/.azureml/config.json": "{}"},
			dirs:  []string{"a/b/c"},
			from:  "a/b/c", want: "a/b/.azureml/config.json",
		},
		{
			name:  "DirectoryNamedConfigJSONSkipped",
			files: map[string]string{".tandem/config.json": "{}"},
			dirs:  []string{"config.json"},
			from:  ".", want: ".tandem/config.json",
		},
		{name: "None", dirs: []string{"a/b"}, from: "a/b", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			cmdtest.WriteFiles(t, root, tt.files)
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			got := FindConfig(filepath.Join(root, tt.from))
			want := ""
			if tt.want != "" {
				want = filepath.Join(root, filepath.FromSlash(tt.want))
			}
			// Directories above the temp root may hold a config.json of
			// their own; only a result inside root is this test's to judge.
			if want == "" && strings.HasPrefix(got, root) {
				t.Fatalf("FindConfig = %q, want none under %s", got, root)
			}
			if want != "" && got != want {
				t.Fatalf("FindConfig = %q, want %q", got, want)
			}
		})
	}
}

func TestResolveConnection(t *testing.T) {
	const (
		flagEP = "http://flag:7070"
		envEP  = "http://env:7070"
		fileEP = "http://file:7070"
	)
	fileConfig := `{"workspace_name": "file-ws", "endpoints": ["` + fileEP + `"], "token_file": "file.token"}`
	tests := []struct {
		name    string
		files   map[string]string
		flags   ConnectionFlags
		env     map[string]string
		want    Connection // ConfigPath and TokenFile relative to the temp root
		wantErr string     // error code; want is ignored when set
		errText string     // a substring of the message
	}{
		{
			name: "Defaults",
			want: Connection{Endpoints: []string{DefaultEndpoint}},
		},
		{
			name:  "FlagsWin",
			files: map[string]string{"config.json": fileConfig, "file.token": "file-secret\n"},
			flags: ConnectionFlags{Endpoints: []string{flagEP}, Token: "flag-secret", Workspace: "flag-ws"},
			env:   map[string]string{EnvEndpoint: envEP, EnvToken: "env-secret", EnvWorkspace: "env-ws"},
			want:  Connection{Endpoints: []string{flagEP}, Token: "flag-secret", Workspace: "flag-ws"},
		},
		{
			name:  "EnvBeatsFile",
			files: map[string]string{"config.json": fileConfig, "file.token": "file-secret\n"},
			env:   map[string]string{EnvEndpoint: envEP, EnvToken: "env-secret", EnvWorkspace: "env-ws"},
			want:  Connection{Endpoints: []string{envEP}, Token: "env-secret", Workspace: "env-ws"},
		},
		{
			name:  "FileFillsGaps",
			files: map[string]string{"config.json": fileConfig, "file.token": "file-secret\n"},
			flags: ConnectionFlags{Workspace: "flag-ws"},
			env:   map[string]string{EnvEndpoint: envEP},
			want: Connection{
				Endpoints: []string{envEP}, Token: "file-secret", TokenFile: "file.token",
				Workspace: "flag-ws", ConfigPath: "config.json",
			},
		},
		{
			name:  "FileOnly",
			files: map[string]string{"config.json": fileConfig, "file.token": "  file-secret \n"},
			want: Connection{
				Endpoints: []string{fileEP}, Token: "file-secret", TokenFile: "file.token",
				Workspace: "file-ws", ConfigPath: "config.json",
			},
		},
		{
			name:  "EndpointFlagsRepeatedAndCommaSeparated",
			flags: ConnectionFlags{Endpoints: []string{"http://a:1,http://b:2/", "http://c:3"}},
			want:  Connection{Endpoints: []string{"http://a:1", "http://b:2", "http://c:3"}},
		},
		{
			name: "EndpointEnvCommaSeparated",
			env:  map[string]string{EnvEndpoint: " http://a:1 , https://b:2,"},
			want: Connection{Endpoints: []string{"http://a:1", "https://b:2"}},
		},
		{
			name: "TokenFileRelativeToConfigDir",
			files: map[string]string{
				".tandem/config.json":         `{"endpoints": ["` + fileEP + `"], "token_file": "secrets/admin.token"}`,
				".tandem/secrets/admin.token": "s3cret",
			},
			want: Connection{
				Endpoints: []string{fileEP}, Token: "s3cret",
				TokenFile: ".tandem/secrets/admin.token", ConfigPath: ".tandem/config.json",
			},
		},
		{
			name: "AzureKeysAccepted",
			files: map[string]string{".azureml/config.json": `{
				"subscription_id": "00000000-0000-0000-0000-000000000000",
				"resource_group": "rg-ml",
				"workspace_name": "mlw-prod",
				"friendly_name": "ignored",
				"location": "eastus"
			}`},
			want: Connection{Endpoints: []string{DefaultEndpoint}, Workspace: "mlw-prod", ConfigPath: ".azureml/config.json"},
		},
		{
			name:  "ExplicitConfigRelativeToDir",
			files: map[string]string{"elsewhere/my.json": `{"workspace_name": "explicit"}`, "config.json": fileConfig},
			flags: ConnectionFlags{ConfigPath: "elsewhere/my.json"},
			want:  Connection{Endpoints: []string{DefaultEndpoint}, Workspace: "explicit", ConfigPath: "elsewhere/my.json"},
		},
		{
			name:  "FileNotReadWhenFlagsComplete",
			files: map[string]string{"config.json": "not json"},
			flags: ConnectionFlags{Endpoints: []string{flagEP}, Token: "t", Workspace: "w"},
			want:  Connection{Endpoints: []string{flagEP}, Token: "t", Workspace: "w"},
		},
		{
			name:    "MalformedFile",
			files:   map[string]string{"config.json": `{"workspace_name": "x",`},
			wantErr: tandem.EInvalid, errText: "config.json is not valid",
		},
		{
			name:    "WrongFieldType",
			files:   map[string]string{"config.json": `{"endpoints": "http://a:1"}`},
			wantErr: tandem.EInvalid, errText: `field "endpoints" must be a list`,
		},
		{
			name:    "ExplicitConfigMissing",
			flags:   ConnectionFlags{ConfigPath: "nope.json"},
			wantErr: tandem.ENotFound, errText: "nope.json does not exist",
		},
		{
			name:    "TokenFileMissing",
			files:   map[string]string{"config.json": fileConfig},
			wantErr: tandem.EUnauthorized, errText: "file.token (token_file in",
		},
		{
			name:    "BadEndpointFlag",
			flags:   ConnectionFlags{Endpoints: []string{"localhost:7070"}},
			wantErr: tandem.EInvalid, errText: `invalid endpoint "localhost:7070" in --endpoint`,
		},
		{
			name:    "BadEndpointInFile",
			files:   map[string]string{"config.json": `{"endpoints": ["ftp://x"]}`},
			wantErr: tandem.EInvalid, errText: `invalid endpoint "ftp://x" in`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			cmdtest.WriteFiles(t, root, tt.files)
			got, err := ResolveConnection(tt.flags, cmdtest.MapEnv(tt.env), root)
			if tt.wantErr != "" {
				if code := tandem.ErrorCode(err); code != tt.wantErr {
					t.Fatalf("got error %v (code %q), want code %q", err, code, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("got error %q, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			want := tt.want
			for _, p := range []*string{&want.ConfigPath, &want.TokenFile} {
				if *p != "" {
					*p = filepath.Join(root, filepath.FromSlash(*p))
				}
			}
			// A config file above the temp root may fill settings the test
			// leaves unset; compare only when the file found is ours.
			if got.ConfigPath != "" && !strings.HasPrefix(got.ConfigPath, root) {
				t.Skipf("a config file outside the test directory applies: %s", got.ConfigPath)
			}
			if !slices.Equal(got.Endpoints, want.Endpoints) || got.Token != want.Token || got.TokenFile != want.TokenFile ||
				got.Workspace != want.Workspace || got.ConfigPath != want.ConfigPath {
				t.Fatalf("got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestConnectionRequire(t *testing.T) {
	c := &Connection{Endpoints: []string{DefaultEndpoint}}
	if err := c.RequireToken(); tandem.ErrorCode(err) != tandem.EUnauthorized ||
		!strings.Contains(err.Error(), "--token") || !strings.Contains(err.Error(), EnvToken) {
		t.Fatalf("RequireToken = %v, want EUnauthorized naming --token and %s", err, EnvToken)
	}
	if err := c.RequireWorkspace(); tandem.ErrorCode(err) != tandem.EInvalid || !strings.Contains(err.Error(), EnvWorkspace) {
		t.Fatalf("RequireWorkspace = %v, want EInvalid naming %s", err, EnvWorkspace)
	}
	c.Token, c.Workspace = "t", "w"
	if err := c.RequireToken(); err != nil {
		t.Fatalf("RequireToken = %v, want nil", err)
	}
	if err := c.RequireWorkspace(); err != nil {
		t.Fatalf("RequireWorkspace = %v, want nil", err)
	}
}

func TestWriteConfig(t *testing.T) {
	cfg := &ConfigFile{WorkspaceName: "ws", Endpoints: []string{"http://a:1"}, TokenFile: "/abs/admin.token"}
	tests := []struct {
		name     string
		existing string // "" for no file
		want     ConfigStatus
		wantErr  string
	}{
		{name: "Missing", want: ConfigMissing},
		{name: "Tandem", existing: `{"workspace_name": "old", "endpoints": ["http://old:1"]}`, want: ConfigTandem},
		{name: "Azure", existing: `{"subscription_id": "s", "resource_group": "r", "workspace_name": "w"}`, want: ConfigForeign, wantErr: tandem.EConflict},
		{name: "NotJSON", existing: "port: 8080\n", want: ConfigForeign, wantErr: tandem.EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if tt.existing != "" {
				cmdtest.WriteFiles(t, filepath.Dir(path), map[string]string{"config.json": tt.existing})
			}
			if got := StatConfig(path); got != tt.want {
				t.Fatalf("StatConfig = %v, want %v", got, tt.want)
			}
			err := WriteConfig(path, cfg)
			if code := tandem.ErrorCode(err); code != tt.wantErr {
				t.Fatalf("WriteConfig error %v, want code %q", err, tt.wantErr)
			}
			data, _ := os.ReadFile(path)
			if tt.wantErr != "" {
				if string(data) != tt.existing {
					t.Fatalf("file changed to %q, want it left as %q", data, tt.existing)
				}
				return
			}
			got, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.WorkspaceName != "ws" || !slices.Equal(got.Endpoints, cfg.Endpoints) || got.TokenFile != cfg.TokenFile {
				t.Fatalf("wrote %+v, want %+v", got, cfg)
			}
			if StatConfig(path) != ConfigTandem {
				t.Fatal("a written config file is not recognised as Tandem's")
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Fatalf("directory holds %d entries, want only config.json (no temporary files)", len(entries))
			}
		})
	}
}
