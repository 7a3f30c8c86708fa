package kasa

// Log field names, shared so that logs stay queryable.
const (
	keyAccount    = "account"
	keyDeviceID   = "device_id"
	keyDeviceType = "device_type"
	keyModel      = "model"
	keyAlias      = "alias"
	keyMethod     = "method"
	keyCode       = "code"
	keyURL        = "url"
	keyCommand    = "command"
)
