// Package version holds the build's version and commit, set at build time:
//
//	go build -ldflags "-X github.com/kasa2mqtt/kasa2mqtt/internal/version.Version=1.0.0 \
//	  -X github.com/kasa2mqtt/kasa2mqtt/internal/version.Commit=<sha>" ./cmd/kasa2mqtt
//
// They are variables only because -X can set nothing else; nothing assigns
// them at run time.
package version

// Version is the release, "dev" when not set at build time.
var Version = "dev"

// Commit is the source commit, "" when not set at build time.
var Commit = ""
