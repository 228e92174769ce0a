package primitives

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
)

// The temporal-envelope wire format, version 1 (docs/wire-format.md; pinned by the known-answer
// vectors in test/vectors/).
//
//	Temporal Server <--> Wire <--> Codec <--> PayloadConverter <--> User code
//	                       ^ sealed payload: everything below is what history stores
//
// metadata (UTF-8 unless noted)
//
//	encoding               "binary/encrypted"
//	encryption-key-id      KEK id that wrapped the DEK ("local-2-a1b2c3d4", a KMS ARN or alias)
//	envelope-version       "1"
//	envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
//	envelope-namespace     namespace the payload is sealed to
//	envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
//	envelope-dek           the wrapped data key (raw bytes, provider-specific)
//	envelope-compression   "deflate" when the plaintext was raw-deflated before sealing
//
// data: nonce ‖ ciphertext ‖ tag of the original Payload serialized as temporal.api.common.v1.Payload.
const (
	Encoding      = "binary/encrypted"
	FormatVersion = "1"

	MetaEncoding    = "encoding"
	MetaKeyID       = "encryption-key-id"
	MetaVersion     = "envelope-version"
	MetaAlgorithm   = "envelope-alg"
	MetaNamespace   = "envelope-namespace"
	MetaWorkflowID  = "envelope-workflow-id"
	MetaWrappedDEK  = "envelope-dek"
	MetaCompression = "envelope-compression"

	// CompressionDeflate is raw deflate (RFC 1951), no zlib or gzip framing.
	CompressionDeflate = "deflate"
)

const (
	aadLabel          = "temporal-envelope/v1/payload"
	maxKeyIDBytes     = 2048
	maxWrappedDEKSize = 4096
)

// Header is everything in a sealed payload but the box itself. All of it is authenticated.
type Header struct {
	Algorithm  Algorithm
	KeyID      string
	Scope      Scope
	WrappedDEK []byte
	// Compression is "" or CompressionDeflate.
	Compression string
}

// AdditionalData is the AEAD's additional data for a header: a label, then each field
// length-prefixed (as LengthPrefixed does), with a presence flag before the workflow id so that
// "no workflow id" differs from every workflow id. Built in one allocation: it runs for every
// payload sealed and opened.
func AdditionalData(h Header) []byte {
	wfLen := 1
	if h.Scope.HasWorkflow() {
		wfLen += len(h.Scope.WorkflowID)
	}
	out := make([]byte, 0, 7*4+len(aadLabel)+len(h.Algorithm)+len(h.KeyID)+len(h.Scope.Namespace)+wfLen+len(h.WrappedDEK)+len(h.Compression))
	out = appendField(out, aadLabel)
	out = appendField(out, string(h.Algorithm))
	out = appendField(out, h.KeyID)
	out = appendField(out, h.Scope.Namespace)
	out = binary.BigEndian.AppendUint32(out, uint32(wfLen))
	if h.Scope.HasWorkflow() {
		out = append(append(out, 1), h.Scope.WorkflowID...)
	} else {
		out = append(out, 0)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(h.WrappedDEK)))
	out = append(out, h.WrappedDEK...)
	return appendField(out, h.Compression)
}

func appendField(out []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(out, uint32(len(s))), s...)
}

// SealedMetadata is the metadata of a payload sealed under h.
func SealedMetadata(h Header) map[string][]byte {
	m := map[string][]byte{
		MetaEncoding:   []byte(Encoding),
		MetaKeyID:      []byte(h.KeyID),
		MetaVersion:    []byte(FormatVersion),
		MetaAlgorithm:  []byte(h.Algorithm),
		MetaNamespace:  []byte(h.Scope.Namespace),
		MetaWrappedDEK: h.WrappedDEK,
	}
	if h.Scope.HasWorkflow() {
		m[MetaWorkflowID] = []byte(h.Scope.WorkflowID)
	}
	if h.Compression != "" {
		m[MetaCompression] = []byte(h.Compression)
	}
	return m
}

// IsEncryptedEncoding reports whether a payload claims Temporal's encrypted encoding (ours or anyone's).
func IsEncryptedEncoding(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[MetaEncoding]) == Encoding
}

// IsEnvelopePayload reports whether a payload is in this project's format: the encrypted encoding
// plus our version field.
func IsEnvelopePayload(p *commonpb.Payload) bool {
	if !IsEncryptedEncoding(p) {
		return false
	}
	_, ok := p.GetMetadata()[MetaVersion]
	return ok
}

// ParseHeader reads and validates the header of a payload in our format. MALFORMED_PAYLOAD for a
// missing or ill-typed field, UNSUPPORTED_FORMAT for a version, algorithm or compression this
// build does not read. The checks run in the same order as in primitives/format.ts, so a payload that
// is wrong in several ways fails with the same code in every language.
func ParseHeader(p *commonpb.Payload) (Header, error) {
	meta := p.GetMetadata()
	if meta == nil {
		return Header{}, Errorf(CodeMalformedPayload, "payload %q is missing", "metadata")
	}
	version, err := text(meta, MetaVersion, 16)
	if err != nil {
		return Header{}, err
	}
	if version != FormatVersion {
		if len(version) > 16 {
			version = version[:16]
		}
		return Header{}, Errorf(CodeUnsupportedFormat, "%q expected %s, got %q", MetaVersion, FormatVersion, version)
	}
	algName, err := text(meta, MetaAlgorithm, 64)
	if err != nil {
		return Header{}, err
	}
	alg, err := ParseAlgorithm(algName)
	if err != nil {
		return Header{}, Errorf(CodeUnsupportedFormat, "%q %q is not supported", MetaAlgorithm, algName)
	}
	keyID, err := text(meta, MetaKeyID, maxKeyIDBytes)
	if err != nil {
		return Header{}, err
	}
	namespace, err := text(meta, MetaNamespace, MaxScopeFieldBytes)
	if err != nil {
		return Header{}, err
	}
	workflowID := ""
	if _, ok := meta[MetaWorkflowID]; ok {
		if workflowID, err = text(meta, MetaWorkflowID, MaxScopeFieldBytes); err != nil {
			return Header{}, err
		}
	}
	wrapped, err := field(meta, MetaWrappedDEK, maxWrappedDEKSize)
	if err != nil {
		return Header{}, err
	}
	compression := ""
	if _, ok := meta[MetaCompression]; ok {
		if compression, err = text(meta, MetaCompression, 32); err != nil {
			return Header{}, err
		}
		if compression != CompressionDeflate {
			return Header{}, Errorf(CodeUnsupportedFormat, "%q %q is not supported", MetaCompression, compression)
		}
	}
	scope, err := NewScope(namespace, workflowID)
	if err != nil {
		return Header{}, err
	}
	return Header{Algorithm: alg, KeyID: keyID, Scope: scope, WrappedDEK: wrapped, Compression: compression}, nil
}

// PeekScope reads the scope and key id of a sealed payload without opening it (to authorize
// before any KMS call). ok is false for payloads not in our format or with a bad header.
func PeekScope(p *commonpb.Payload) (scope Scope, keyID string, ok bool) {
	if !IsEnvelopePayload(p) {
		return Scope{}, "", false
	}
	h, err := ParseHeader(p)
	if err != nil {
		return Scope{}, "", false
	}
	return h.Scope, h.KeyID, true
}

func field(meta map[string][]byte, key string, max int) ([]byte, error) {
	v, ok := meta[key]
	if !ok {
		return nil, Errorf(CodeMalformedPayload, "metadata %q is missing", key)
	}
	if len(v) == 0 {
		return nil, Errorf(CodeMalformedPayload, "metadata %q is empty", key)
	}
	if len(v) > max {
		return nil, Errorf(CodeMalformedPayload, "metadata %q expected at most %d bytes, got %d", key, max, len(v))
	}
	return v, nil
}

func text(meta map[string][]byte, key string, max int) (string, error) {
	v, err := field(meta, key, max)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(v) {
		return "", Errorf(CodeMalformedPayload, "metadata %q is not valid UTF-8", key)
	}
	return string(v), nil
}

// String is for logs: the header without key material (the wrapped DEK is shown by length only).
func (h Header) String() string {
	return fmt.Sprintf("{alg=%s key=%q scope=%s dek=%dB compression=%q}", h.Algorithm, h.KeyID, h.Scope.Key(), len(h.WrappedDEK), h.Compression)
}
