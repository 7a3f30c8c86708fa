// Package logging names the process's log components.
package logging
