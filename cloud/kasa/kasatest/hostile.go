package kasatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// BodyFault writes a hostile answer in place of body, the answer the fake
// would have sent. It runs without the server's lock held.
type BodyFault func(w io.Writer, body []byte)

// bodyFaults are the pending RewriteNext rules. Guarded by Server.mu.
type bodyFaults struct {
	rules []*bodyRule
}

type bodyRule struct {
	method string // "" for any
	n      int
	fault  BodyFault
}

// RewriteNext makes the next n successful answers to method ("login",
// "refreshToken", "getDeviceList", "passthrough"; "" for any method) be
// written by f instead. The request is handled as usual first (tokens are
// issued, commands applied); only the bytes of the answer change, and its
// status stays 200. Rules for different methods are independent; a later
// rule for the same method replaces the earlier one. RewriteNext(method,
// 0, nil) removes the rule.
func (s *Server) RewriteNext(method string, n int, f BodyFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := s.hostile.rules[:0]
	for _, r := range s.hostile.rules {
		if r.method != method {
			rules = append(rules, r)
		}
	}
	if n > 0 && f != nil {
		rules = append(rules, &bodyRule{method: method, n: n, fault: f})
	}
	s.hostile.rules = rules
}

// takeBodyFault returns the fault for a request with body reqBody, if a
// rule matches, counting it down.
func (s *Server) takeBodyFault(reqBody []byte) BodyFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hostile.rules) == 0 {
		return nil
	}
	var env struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(reqBody, &env)
	for i, r := range s.hostile.rules {
		if r.method == "" || r.method == env.Method {
			r.n--
			if r.n <= 0 {
				s.hostile.rules = append(s.hostile.rules[:i:i], s.hostile.rules[i+1:]...)
			}
			return r.fault
		}
	}
	return nil
}

// writeBody writes a successful answer, or what a RewriteNext rule makes of
// it.
func (s *Server) writeBody(w http.ResponseWriter, reqBody, resp []byte) {
	if f := s.takeBodyFault(reqBody); f != nil {
		f(w, resp)
		return
	}
	_, _ = w.Write(resp)
}

// Raw answers with body, whatever was asked.
func Raw(body string) BodyFault {
	return func(w io.Writer, _ []byte) { _, _ = io.WriteString(w, body) }
}

// Truncate answers with the first half of the real answer (cut JSON).
func Truncate() BodyFault {
	return func(w io.Writer, body []byte) { _, _ = w.Write(body[:len(body)/2]) }
}

// Replace answers with the real answer with every old replaced by new.
func Replace(old, new string) BodyFault {
	return func(w io.Writer, body []byte) {
		_, _ = w.Write(bytes.ReplaceAll(body, []byte(old), []byte(new)))
	}
}

// Giant answers with size bytes: a successful envelope whose result holds
// one huge string, streamed (never held in memory), so that a client must
// stop reading on its own.
func Giant(size int64) BodyFault {
	return func(w io.Writer, _ []byte) {
		head, tail := `{"error_code":0,"result":{"responseData":"`, `"}}`
		_, _ = io.WriteString(w, head)
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for left := size - int64(len(head)+len(tail)); left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := w.Write(chunk[:n]); err != nil {
				return // the client stopped reading
			}
			left -= n
		}
		_, _ = io.WriteString(w, tail)
	}
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
// to rewrite.
func (s *Server) PendingRewrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.hostile.rules {
		n += r.n
	}
	return n
}
