package tandem

// Version is Tandem's version, set at build time with
// -ldflags "-X github.com/tandemml/tandem.Version=...".
var Version = "0.1.0-dev"

// RegionInfo describes the region a server belongs to.
type RegionInfo struct {
	Region  string `json:"region"`
	Version string `json:"version"`
}
