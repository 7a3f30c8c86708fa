package broker

import (
	"reflect"
	"time"
	"unsafe"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// retainedExpiryEvery is how often the broker looks for retained messages
// whose MQTT 5 message expiry has passed.
const retainedExpiryEvery = time.Minute

// slowRetainedExpiry makes mochi look for expired retained messages every
// `every` instead of every second. mochi's scan copies every retained
// message (a map of whole packets) each time: with thousands of devices,
// three retained topics each, that is megabytes a second of garbage and
// most of the broker's CPU, to expire messages that kasa2mqtt never sends
// with an expiry. An expired retained message of another client is then
// dropped up to `every` late (it is never delivered late: mochi checks the
// expiry when it delivers one). mochi has no option for the interval, so
// the ticker is reached through reflection; it reports false (and changes
// nothing) when mochi's internals no longer look as expected.
func slowRetainedExpiry(srv *mqtt.Server, every time.Duration) bool {
	v := reflect.ValueOf(srv).Elem().FieldByName("loop")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	f := v.Elem().FieldByName("retainedExpiry")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*time.Ticker]() || f.IsNil() {
		return false
	}
	(*time.Ticker)(unsafe.Pointer(f.Pointer())).Reset(every)
	return true
}
