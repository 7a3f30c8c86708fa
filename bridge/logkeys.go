package bridge

// Log field names, shared so logs are queryable the same way everywhere.
const (
	keyTopic    = "topic"
	keyDeviceID = "device_id"
	keyDevice   = "device"
	keyAccount  = "account"
	keyProvider = "provider"
	keyPayload  = "payload"
)
