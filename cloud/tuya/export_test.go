package tuya

import "encoding/json"

var jsonMarshal = json.Marshal
