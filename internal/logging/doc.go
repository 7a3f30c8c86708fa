// Package logging builds the one zap logger of the process: console or JSON
// output, per-component levels (Levels: log.level and log.levels, changed at
// run time by bridge/request/log_level) and a core that holds back repeated
// identical warnings and errors (one line a minute per distinct entry, then
// "repeated: N"). Components names the loggers whose level can be set.
package logging
