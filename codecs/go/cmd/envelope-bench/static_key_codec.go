package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"
)

// staticKeyCodec is the baseline: the shape of Temporal's samples encryption codec (one static
// AES-256-GCM key, nonce ‖ ciphertext ‖ tag of the serialized payload, no envelope, no scope, no
// additional data). What the envelope adds is measured against it.
type staticKeyCodec struct{ aead cipher.AEAD }

func newStaticKeyCodec() (*staticKeyCodec, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &staticKeyCodec{aead: aead}, nil
}

func (c *staticKeyCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		box := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
		if _, err := rand.Read(box); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"), "encryption-key-id": []byte("static")},
			Data:     c.aead.Seal(box, box, plain, nil),
		}
	}
	return out, nil
}

func (c *staticKeyCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		n := c.aead.NonceSize()
		if len(p.Data) < n {
			return nil, errors.New("short ciphertext")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], nil)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plain, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
