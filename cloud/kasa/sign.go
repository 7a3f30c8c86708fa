package kasa

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
)

// v2Timestamp is the timestamp of every V2 signature: the constant the
// official apps send (reference §5.4); the cloud does not check it.
const v2Timestamp = "9999999999"

// v2Signature is the signature of one V2 request (reference §5.4).
type v2Signature struct {
	// ContentMD5 is base64(md5(body)), the Content-MD5 header.
	ContentMD5 string
	// Authorization is the X-Authorization header:
	// "Timestamp=…, Nonce=…, AccessKey=…, Signature=…", in that order.
	Authorization string
}

// signV2 signs body, the exact bytes that will be sent, for the URL path
// path (no scheme, host or query), with the app's key pair:
// Signature = hex(HMAC-SHA1(secretKey, md5 "\n" timestamp "\n" nonce "\n" path)).
func signV2(accessKey, secretKey string, body []byte, timestamp, nonce, path string) v2Signature {
	sum := md5.Sum(body)
	contentMD5 := base64.StdEncoding.EncodeToString(sum[:])
	mac := hmac.New(sha1.New, []byte(secretKey))
	mac.Write([]byte(contentMD5 + "\n" + timestamp + "\n" + nonce + "\n" + path))
	sig := hex.EncodeToString(mac.Sum(nil))
	return v2Signature{
		ContentMD5:    contentMD5,
		Authorization: "Timestamp=" + timestamp + ", Nonce=" + nonce + ", AccessKey=" + accessKey + ", Signature=" + sig,
	}
}
