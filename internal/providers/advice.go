package providers

import (
	"errors"
	"fmt"

	"github.com/kasa2mqtt/kasa2mqtt/cloud"
)

// Advise returns err with what a person should do about it appended, e.g.
// "…: cloud authentication failed; run `kasa2mqtt login -account home`",
// when err says that the account called account, of the kind called kind,
// needs a person (cloud.ErrLoginNeeded); otherwise err unchanged. The CLI
// and the bridge (bridge/info, events, logs) show errors through it. The
// result wraps err.
func Advise(kind, account string, err error) error {
	if !errors.Is(err, cloud.ErrLoginNeeded) {
		return err
	}
	k, ok := Lookup(kind)
	if !ok || k.fixCommand == "" {
		return err
	}
	return fmt.Errorf("%w; run `kasa2mqtt %s -account %s`", err, k.fixCommand, account)
}
