package tuya

// Log field names, shared so that logs stay queryable.
const (
	keyAccount  = "account"
	keyDeviceID = "device_id"
	keyCategory = "category"
	keyProduct  = "product"
	keyName     = "name"
	keyOp       = "op"
	keyCode     = "code"
	keyCommand  = "command"
	keyDP       = "dp"
	keyOffset   = "clock_offset"
	keyUntil    = "until"
)
