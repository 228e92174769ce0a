package primitives

import (
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
)

// The payload format of Temporal's samples encryption codec, which most teams start from
// (primitives/samples-format.ts). We only read it, under legacy decrypt-only keys; new payloads are
// always sealed in the envelope.
//
//	metadata   encoding           "binary/encrypted"
//	           encryption-key-id  the key's id, a free string the team chose
//	           (no envelope-version: that is what tells it from ours)
//	data       nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), no additional data, of the original
//	           Payload serialized with temporal.api.common.v1.Payload
//
// As written by samples-go encryption/crypt.go (gcm.Seal(nonce, nonce, p.Marshal(), nil)),
// samples-python and samples-typescript (since 2022-10-27).

// SamplesKeyKind is the `kind` a legacy key file records for keys of this format.
const SamplesKeyKind = "samples-aes-256-gcm"

// SamplesAlgorithm is the samples' cipher: the same nonce ‖ ciphertext ‖ tag layout as ours.
const SamplesAlgorithm = AES256GCM

// SamplesKeyIDOf is the key id of a payload that looks like the samples' format (Temporal's
// encrypted encoding, a valid UTF-8 `encryption-key-id` of 1 to 2048 bytes, no `envelope-version`),
// and whether it is one. It reads no key: whether the id names a configured legacy key is the
// caller's question. The id is the exact bytes (a leading U+FEFF stays), so it matches the legacy
// key file's byte for byte.
func SamplesKeyIDOf(p *commonpb.Payload) (string, bool) {
	if !IsEncryptedEncoding(p) {
		return "", false
	}
	meta := p.GetMetadata()
	if _, ours := meta[MetaVersion]; ours {
		return "", false
	}
	id := meta[MetaKeyID]
	if len(id) == 0 || len(id) > maxKeyIDBytes || !utf8.Valid(id) {
		return "", false
	}
	return string(id), true
}

// OpenSamples authenticates and decrypts a samples-format box (no additional data) under key.
// TAMPERED_CIPHERTEXT for a wrong key or altered bytes.
func OpenSamples(key, box []byte) ([]byte, error) {
	return Open(SamplesAlgorithm, key, box, nil)
}
