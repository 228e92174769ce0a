package primitives

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Algorithm names an AEAD as written in a payload's envelope-alg.
type Algorithm string

const (
	AES256GCM         Algorithm = "AES-256-GCM"
	XChaCha20Poly1305 Algorithm = "XCHACHA20-POLY1305"
)

// Algorithms lists every algorithm this build reads and writes.
var Algorithms = []Algorithm{AES256GCM, XChaCha20Poly1305}

// KeyBytes is the size of every data key and KEK: 256 bits.
const KeyBytes = 32

// suite is one AEAD. Only AEADs: a payload whose tag does not verify is never released, not even
// partly (Go's cipher.AEAD.Open returns nothing but an error then).
type suite struct {
	nonceBytes int
	tagBytes   int
	// maxMessagesPerKey: messages one key may seal with random nonces. NIST SP 800-38D §8.3 caps
	// random-IV GCM at 2^32 invocations; 192-bit XChaCha nonces do not collide in practice and the
	// limit there is Poly1305's forgery bound.
	maxMessagesPerKey uint64
	newAEAD           func(key []byte) (cipher.AEAD, error)
}

var suites = map[Algorithm]suite{
	AES256GCM: {nonceBytes: 12, tagBytes: 16, maxMessagesPerKey: 1 << 32, newAEAD: func(key []byte) (cipher.AEAD, error) {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	}},
	XChaCha20Poly1305: {nonceBytes: chacha20poly1305.NonceSizeX, tagBytes: chacha20poly1305.Overhead, maxMessagesPerKey: 1 << 48, newAEAD: chacha20poly1305.NewX},
}

// ParseAlgorithm returns the algorithm named s, or UNSUPPORTED_FORMAT.
func ParseAlgorithm(s string) (Algorithm, error) {
	if _, ok := suites[Algorithm(s)]; !ok {
		return "", Errorf(CodeUnsupportedFormat, "algorithm %q is not supported; expected one of AES-256-GCM, XCHACHA20-POLY1305", s)
	}
	return Algorithm(s), nil
}

// MaxMessagesPerKey is the cipher's own ceiling on payloads sealed by one key.
func (a Algorithm) MaxMessagesPerKey() uint64 { return suites[a].maxMessagesPerKey }

// NonceBytes is the nonce length of the algorithm.
func (a Algorithm) NonceBytes() int { return suites[a].nonceBytes }

func (a Algorithm) aead(key []byte) (cipher.AEAD, suite, error) {
	s, ok := suites[a]
	if !ok {
		return nil, suite{}, Errorf(CodeUnsupportedFormat, "algorithm %q is not supported", string(a))
	}
	if len(key) != KeyBytes {
		// Length only: never echo key bytes.
		return nil, suite{}, fmt.Errorf("%q expected %d bytes, got %d", "key", KeyBytes, len(key))
	}
	aead, err := s.newAEAD(key)
	if err != nil {
		return nil, suite{}, err
	}
	return aead, s, nil
}

// Seal encrypts plaintext under key with a fresh nonce read from random (crypto/rand when nil) and
// returns nonce ‖ ciphertext ‖ tag.
func Seal(alg Algorithm, key, plaintext, aad []byte, random io.Reader) ([]byte, error) {
	aead, s, err := alg.aead(key)
	if err != nil {
		return nil, err
	}
	if random == nil {
		random = rand.Reader
	}
	out := make([]byte, s.nonceBytes, s.nonceBytes+len(plaintext)+s.tagBytes)
	if _, err := io.ReadFull(random, out); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(out, out[:s.nonceBytes], plaintext, aad), nil
}

// Open authenticates and decrypts nonce ‖ ciphertext ‖ tag. Any failure is TAMPERED_CIPHERTEXT.
func Open(alg Algorithm, key, box, aad []byte) ([]byte, error) {
	aead, s, err := alg.aead(key)
	if err != nil {
		return nil, err
	}
	if len(box) < s.nonceBytes+s.tagBytes {
		return nil, Errorf(CodeTamperedCiphertext, "%s ciphertext expected at least %d bytes, got %d", alg, s.nonceBytes+s.tagBytes, len(box))
	}
	plaintext, err := aead.Open(nil, box[:s.nonceBytes], box[s.nonceBytes:], aad)
	if err != nil {
		return nil, Errorf(CodeTamperedCiphertext, "%s authentication failed: ciphertext, additional data or key is wrong", alg)
	}
	return plaintext, nil
}
