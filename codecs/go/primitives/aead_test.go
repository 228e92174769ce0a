package primitives

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestLengthPrefixed(t *testing.T) {
	got := LengthPrefixed([]byte("ab"), nil, []byte{7})
	want := []byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 1, 7}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestAEADRoundTripAndTampering(t *testing.T) {
	key := make([]byte, KeyBytes)
	_, _ = rand.Read(key)
	for _, alg := range Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			pt, aad := []byte("secret"), []byte("aad")
			box, err := Seal(alg, key, pt, aad, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(box) != alg.NonceBytes()+len(pt)+16 {
				t.Fatalf("box is %d bytes", len(box))
			}
			back, err := Open(alg, key, box, aad)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("round trip: %v", err)
			}
			for i := range box {
				flipped := bytes.Clone(box)
				flipped[i] ^= 1
				if _, err := Open(alg, key, flipped, aad); CodeOf(err) != CodeTamperedCiphertext {
					t.Fatalf("byte %d flipped: %v", i, err)
				}
			}
			if _, err := Open(alg, key, box, []byte("other")); CodeOf(err) != CodeTamperedCiphertext {
				t.Fatalf("other aad: %v", err)
			}
			if _, err := Open(alg, key, box[:alg.NonceBytes()+15], aad); CodeOf(err) != CodeTamperedCiphertext {
				t.Fatalf("short: %v", err)
			}
			if _, err := Seal(alg, key[:16], pt, aad, nil); err == nil {
				t.Fatal("a 16-byte key must be refused")
			}
		})
	}
	if _, err := ParseAlgorithm("ROT13"); CodeOf(err) != CodeUnsupportedFormat {
		t.Fatalf("unknown algorithm: %v", err)
	}
}
