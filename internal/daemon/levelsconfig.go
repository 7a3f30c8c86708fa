package daemon

import (
	"sort"

	"github.com/kasa2mqtt/kasa2mqtt/internal/config"
)

// LevelsFromConfig builds the Levels of the log section: log.level for
// everything, then each log.levels component override.
func LevelsFromConfig(l config.Log) (*Levels, error) {
	levels, err := NewLevels(l.Level)
	if err != nil {
		return nil, err
	}
	comps := make([]string, 0, len(l.Levels))
	for c := range l.Levels {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	for _, c := range comps {
		if err := levels.Set(c, l.Levels[c]); err != nil {
			return nil, err
		}
	}
	return levels, nil
}
