package tuya

import (
	"net/url"
	"testing"
)

// Inputs of the published test vectors (reference §1.5).
const (
	vClientID = "1KAD46OrT9HafiKdsXeg"
	vSecret   = "4OHBOnWOqaEC1mWXOpVL3yV50s0qGSRC"
	vT        = "1588925778000"
	vNonce    = "5138cc3a9033d69856923fd07b491173"
	vToken    = "3f4eda2bdec17232f67c0b188af3eec1"
)

var vHeaders = []signedHeader{
	{"area_id", "29a33e8796834b1efa6"},
	{"call_id", "8afdb70ab2ed11eb85290242ac130003"},
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSign_PublishedAndComputedVectors(t *testing.T) {
	commandBody := []byte(`{"commands":[{"code":"switch_1","value":true}]}`)
	tests := []struct {
		name    string
		method  string
		body    []byte
		headers []signedHeader
		path    string
		query   string
		token   string
		nonce   string
		want    string
	}{
		{"A token, signed headers (published)", "GET", nil, vHeaders, "/v1.0/token", "grant_type=1", "", vNonce,
			"9E48A3E93B302EEECC803C7241985D0A34EB944F40FB573C7B5C2A82158AF13E"},
		{"B business, signed headers (published)", "GET", nil, vHeaders, "/v2.0/apps/schema/users", "page_no=1&page_size=50", vToken, vNonce,
			"AE4481C692AA80B25F3A7E12C3A5FD9BBF6251539DD78E565A1A72A508A88784"},
		{"token, no headers, nonce", "GET", nil, nil, "/v1.0/token", "grant_type=1", "", vNonce,
			"3206F74CBFC2869794FD3013C44F18166BE22AB1FB5FF66F513212264F67F681"},
		{"token, no headers, no nonce", "GET", nil, nil, "/v1.0/token", "grant_type=1", "", "",
			"7BA26C076E5ECB1E959BE274A0FFB397B2B1865FC7BCED8F1C78AC5653C20CAA"},
		{"token, Signature-Headers client_id, nonce", "GET", nil, []signedHeader{{"client_id", vClientID}}, "/v1.0/token", "grant_type=1", "", vNonce,
			"C8C4E365DF7AB0C38CA52EC7317421BCFACCF77CF38352C44F385BBF0396B289"},
		{"business GET, no headers, nonce", "GET", nil, nil, "/v2.0/apps/schema/users", "page_no=1&page_size=50", vToken, vNonce,
			"F858D3153DBD4FFA94D59D56B00E2945430F33F0403B8BE575F3A13B1F2D3B47"},
		{"business GET, no headers, no nonce", "GET", nil, nil, "/v2.0/apps/schema/users", "page_no=1&page_size=50", vToken, "",
			"64301972C332666809136931588F2E3D042221D7A85036DE55409C91151C7659"},
		{"business batch status, no nonce", "GET", nil, nil, "/v1.0/iot-03/devices/status", "device_ids=a%2Cb", vToken, "",
			"9BAF59916E36B0B0D97816867E20015D9650F08E185352EC9156170AFE17A74A"},
		{"business POST commands, nonce", "POST", commandBody, nil, "/v1.0/iot-03/devices/vdevo123/commands", "", vToken, vNonce,
			"FF275625933F30DD3668ED460AB4871CC7A7C3021EDB2A29B8541743C74DC2F8"},
		{"business POST commands, no nonce", "POST", commandBody, nil, "/v1.0/iot-03/devices/vdevo123/commands", "", vToken, "",
			"B1BF65A60FD7BA9A89E938B6C5EBD10272CE8F11E4AC304C7A7F58DE1AFB288E"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts := stringToSign(tc.method, tc.body, tc.headers, canonicalURL(tc.path, mustQuery(t, tc.query)))
			if got := sign(vClientID, vSecret, tc.token, vT, tc.nonce, sts); got != tc.want {
				t.Errorf("sign = %s, want %s\nstringToSign = %q", got, tc.want, sts)
			}
		})
	}
}

func TestSign_OldAlgorithmVectors(t *testing.T) {
	// Vector C: the pre-2021 algorithm is a plain HMAC of the concatenation.
	if got := hmacUpperHex(vSecret, vClientID+vT); got != "CEAAFB5CCDC2F723A9FD3E91D3D2238EE0DD9A6D7C3C365DEB50FC2AF277AA83" {
		t.Errorf("old token sign = %s", got)
	}
	if got := hmacUpperHex(vSecret, vClientID+vToken+vT); got != "36C30E300F226B68ADD014DD1EF56A81EDB7B7A817840485769B9D6C96D0FAA1" {
		t.Errorf("old business sign = %s", got)
	}
}

func TestStringToSign_VectorAText(t *testing.T) {
	want := "GET\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"area_id:29a33e8796834b1efa6\ncall_id:8afdb70ab2ed11eb85290242ac130003\n\n/v1.0/token?grant_type=1"
	if got := stringToSign("get", nil, vHeaders, canonicalURL("/v1.0/token", mustQuery(t, "grant_type=1"))); got != want {
		t.Errorf("stringToSign =\n%q\nwant\n%q", got, want)
	}
	if got := stringToSign("GET", []byte{}, nil, "/p"); got != "GET\n"+emptyBodySHA256+"\n\n/p" {
		t.Errorf("no-header stringToSign = %q", got)
	}
}

func TestContentSHA256_CommandBody(t *testing.T) {
	body := []byte(`{"commands":[{"code":"switch_1","value":true}]}`)
	if len(body) != 47 {
		t.Fatalf("body is %d bytes", len(body))
	}
	if got := contentSHA256(body); got != "00c2368c059275b6f529e038fc079d641a933173858053bf72070d768d072f0e" {
		t.Errorf("sha = %s", got)
	}
	if got := contentSHA256(nil); got != emptyBodySHA256 {
		t.Errorf("empty sha = %s", got)
	}
}

func TestCanonicalURL(t *testing.T) {
	tests := []struct {
		path string
		q    url.Values
		want string
	}{
		{"/v1.0/token", nil, "/v1.0/token"},
		{"/p", url.Values{}, "/p"},
		{"/p", url.Values{"b": {"2"}, "a": {"1"}}, "/p?a=1&b=2"},
		{"/p", url.Values{"from": {""}, "page_no": {"1"}}, "/p?from=&page_no=1"},
		{"/p", url.Values{"ids": {"a,b c"}}, "/p?ids=a,b c"}, // decoded, not escaped
		{"/p", url.Values{"k": {"2", "1"}}, "/p?k=2&k=1"},
	}
	for _, tc := range tests {
		if got := canonicalURL(tc.path, tc.q); got != tc.want {
			t.Errorf("canonicalURL(%q, %v) = %q, want %q", tc.path, tc.q, got, tc.want)
		}
	}
}

// The provider's commands body must be exactly the compact form of the
// reference vector, since its hash is signed.
func TestCommandBodyEncoding(t *testing.T) {
	b, err := jsonMarshal(commandBody{Commands: []dpCommand{{Code: "switch_1", Value: true}}})
	if err != nil || string(b) != `{"commands":[{"code":"switch_1","value":true}]}` {
		t.Fatalf("body = %s, %v", b, err)
	}
}
