package kasa

import "testing"

// The reference's test vector (§5.4).
func TestSignV2_ReferenceVector(t *testing.T) {
	body := []byte(`{"appType":"Kasa_Android_Mix","cloudUserName":"user@example.com"}`)
	got := signV2("test-access-key", "test-secret-key", body, "9999999999",
		"00000000-0000-4000-8000-000000000000", "/api/v2/account/getAccountStatusAndUrl")
	if got.ContentMD5 != "eDHm4tTb+isgE41TAY1clw==" {
		t.Errorf("Content-MD5 = %q", got.ContentMD5)
	}
	want := "Timestamp=9999999999, Nonce=00000000-0000-4000-8000-000000000000, AccessKey=test-access-key, " +
		"Signature=e8f6a41287ba07b33c5a71af1c03fd62ad65b0f7"
	if got.Authorization != want {
		t.Errorf("X-Authorization = %q\nwant %q", got.Authorization, want)
	}
}
