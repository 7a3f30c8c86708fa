// Package providers is the registry of cloud provider kinds: for each name
// that may appear as accounts[].provider in the configuration ("kasa",
// "tuya"), how to make an empty account configuration for the loader to
// decode into, and how to open an account from that configuration and the
// dependencies every provider shares (state directory, HTTP client, energy
// meter, logger, observer, request timeout, device scale overrides).
//
// The table is explicit (kinds in registry.go) rather than filled by init
// functions, and nothing in it changes at run time. The daemon and the CLI
// go through Open and the optional capabilities of the returned Account
// (interactive login, authorisation, the full device inventory) instead of
// switching on provider types; Advise words, in one place, what a person
// should do about an account that needs them (the providers' own errors
// stay neutral: cloud.ErrLoginNeeded).
package providers
