package tuya

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
)

// GCM framing of the pushed data (reference §6.3): a 12-byte nonce, then
// the ciphertext and its 16-byte tag; no additional data.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// decryptPushData decrypts the data of a pushed message with key (16
// bytes): AES-GCM when gcm (the message's em property is "aes_gcm"), else
// AES-ECB with PKCS#7 padding. Its errors say what is wrong with the
// ciphertext, never anything about the key.
func decryptPushData(data, key []byte, gcm bool) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("no usable key (the access secret is shorter than 24 characters)")
	}
	if gcm {
		if len(data) < gcmNonceSize+gcmTagSize {
			return nil, errors.New("AES-GCM data shorter than its nonce and tag")
		}
		aead, err := cipher.NewGCMWithNonceSize(block, gcmNonceSize)
		if err != nil {
			return nil, errors.New("AES-GCM not available")
		}
		out, err := aead.Open(nil, data[:gcmNonceSize], data[gcmNonceSize:], nil)
		if err != nil {
			return nil, errors.New("AES-GCM authentication failed (wrong key or damaged data)")
		}
		return out, nil
	}
	bs := block.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errors.New("AES-ECB data is not a whole number of blocks")
	}
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += bs {
		block.Decrypt(out[i:i+bs], data[i:i+bs])
	}
	pad := int(out[len(out)-1])
	if pad < 1 || pad > bs {
		return nil, errors.New("AES-ECB padding is invalid (wrong key or damaged data)")
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, errors.New("AES-ECB padding is invalid (wrong key or damaged data)")
		}
	}
	return out[:len(out)-pad], nil
}
