package logging

import (
	"slices"

	"github.com/kasa2mqtt/kasa2mqtt/internal/providers"
)

// Components returns the logger names whose level can be set on their own
// (log.levels in the configuration, bridge/request/log_level over MQTT), in
// the order messages list them: the bridge's ("bridge", and its "mqtt"
// client and "poller"s), one per provider kind (its name, see
// internal/providers) and the embedded broker's ("broker").
func Components() []string {
	return slices.Concat([]string{"bridge", "mqtt", "poller"}, providers.Names(), []string{"broker"})
}
