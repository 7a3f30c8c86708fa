package bridge

import (
	"fmt"
	"runtime/debug"

	"go.uber.org/zap"
)

// safely runs fn and turns a panic inside a provider into an error, so that
// one bad cloud response can never take the daemon down. The stack goes to
// the log at error level; the panic value itself is not logged (it could
// hold a request with a token), only its type.
func safely(log *zap.Logger, op string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("recovered from a panic; please report this as a bug", zap.String("op", op),
				zap.String("panic_type", fmt.Sprintf("%T", r)), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("%s: internal error (recovered panic)", op)
		}
	}()
	return fn()
}
