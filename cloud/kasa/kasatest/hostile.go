package kasatest

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/kasa2mqtt/kasa2mqtt/internal/httpfault"
)

// BodyFault writes a hostile answer in place of body, the answer the fake
// would have sent. It runs without the server's lock held.
type BodyFault = httpfault.BodyFault

// RewriteNext makes the next n successful answers to method ("login",
// "refreshToken", "getDeviceList", "passthrough", and in V2 mode the other
// account calls by name, e.g. "getAccountStatusAndUrl"; "" for any) be
// written by f instead. The request is handled as usual first (tokens are
// issued, commands applied); only the bytes of the answer change, and its
// status stays 200. Rules for different methods are independent; a later
// rule for the same method replaces the earlier one. RewriteNext(method,
// 0, nil) removes the rule. Safe for concurrent use.
func (s *Server) RewriteNext(method string, n int, f BodyFault) {
	s.hostile.Set(method, n, f)
}

// envelopeMethodIs returns the RewriteNext matcher of a V1 request with
// body reqBody: "" matches any, otherwise the envelope's method (parsed on
// first use).
func envelopeMethodIs(reqBody []byte) func(key string) bool {
	method, parsed := "", false
	return func(key string) bool {
		if key == "" {
			return true
		}
		if !parsed {
			var env struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(reqBody, &env)
			method, parsed = env.Method, true
		}
		return key == method
	}
}

// Raw answers with body, whatever was asked.
func Raw(body string) BodyFault { return httpfault.Raw(body) }

// Truncate answers with the first half of the real answer (cut JSON).
func Truncate() BodyFault { return httpfault.Truncate() }

// Replace answers with the real answer with every old replaced by new.
func Replace(old, new string) BodyFault { return httpfault.Replace(old, new) }

// Giant answers with size bytes: a successful envelope whose result holds
// one huge string, streamed (never held in memory), so that a client must
// stop reading on its own.
func Giant(size int64) BodyFault {
	return httpfault.Giant(`{"error_code":0,"result":{"responseData":"`, `"}}`, size)
}

// EditResponseData answers a passthrough with its responseData (the
// device's answer, a JSON document in a string) replaced by edit's result,
// still as a string. Answers that are not a passthrough success pass
// unchanged.
func EditResponseData(edit func(data []byte) []byte) BodyFault {
	return editPassthrough(func(data []byte) any { return string(edit(data)) })
}

// ResponseDataAsObject answers a passthrough with responseData as a JSON
// object instead of the string the cloud sends (the document embedded).
func ResponseDataAsObject() BodyFault {
	return editPassthrough(func(data []byte) any { return json.RawMessage(data) })
}

func editPassthrough(edit func(data []byte) any) BodyFault {
	return func(w io.Writer, body []byte) {
		var env struct {
			ErrorCode int `json:"error_code"`
			Result    struct {
				ResponseData *string `json:"responseData"`
			} `json:"result"`
		}
		if json.Unmarshal(body, &env) != nil || env.ErrorCode != 0 || env.Result.ResponseData == nil {
			_, _ = w.Write(body)
			return
		}
		out, err := json.Marshal(map[string]any{"error_code": 0, "result": map[string]any{"responseData": edit([]byte(*env.Result.ResponseData))}})
		if err != nil {
			panic(fmt.Sprintf("kasatest: encode: %v", err))
		}
		_, _ = w.Write(out)
	}
}

// PendingRewrites returns how many answers the RewriteNext rules have yet
// to rewrite. Safe for concurrent use.
func (s *Server) PendingRewrites() int { return s.hostile.Pending() }
