package discovery

import "strings"

// Value templates.
//
// Home Assistant renders a value template against every message on the
// entity's topic, including the empty retained payloads that clear a topic
// and anything else a client publishes there. It defines value_json only
// when the payload parses as JSON; reading an attribute of an undefined
// value is a template error ("'value_json' is undefined", logged at ERROR
// with "Error parsing value"), and printing or testing an undefined value
// logs a warning. So every template here checks each step with
// "is defined" before using it and renders '' when a step is missing:
// Home Assistant ignores an empty result (the entity keeps its state) and
// logs nothing above debug. The templates use only this Jinja subset:
// value_json, attribute and ['string'] subscripts, "is defined", "and",
// inline if/else and string literals; the golden test evaluates exactly
// that subset (testdata/templates.golden).

// step is one key on the way from value_json to a value: an attribute
// (value_json.state) or a subscript for keys that are not identifiers
// (value_json.accounts['office-tuya']).
type step struct {
	key       string
	subscript bool
}

func attr(key string) step { return step{key: key} }
func item(key string) step { return step{key: key, subscript: true} }

// jsonPath returns the Jinja expression of the value at path and the guard
// that is true only when every step of it is defined.
func jsonPath(path ...step) (expr, guard string) {
	expr = "value_json"
	guards := []string{"value_json is defined"}
	for _, s := range path {
		if s.subscript {
			expr += "['" + s.key + "']"
		} else {
			expr += "." + s.key
		}
		guards = append(guards, expr+" is defined")
	}
	return expr, strings.Join(guards, " and ")
}

// valueTemplate renders the value at path, or "" when the payload is not
// JSON or lacks a step. A JSON null renders "None", which Home Assistant
// reads as unknown.
func valueTemplate(path ...step) string {
	expr, guard := jsonPath(path...)
	return "{{ " + expr + " if " + guard + " else '' }}"
}

// onOffTemplate renders 'ON' when the value at path is true (non-empty,
// non-zero), 'OFF' when it is false or null, and "" when the payload is
// not JSON or lacks a step.
func onOffTemplate(path ...step) string {
	expr, guard := jsonPath(path...)
	return "{{ ('ON' if " + expr + " else 'OFF') if " + guard + " else '' }}"
}
