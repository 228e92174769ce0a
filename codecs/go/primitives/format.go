package primitives

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
)

// The temporal-envelope wire format, version 1 (docs/wire-format.md; pinned by the known-answer
// vectors in test/vectors/), and what version 2 (format_v2.go) shares with it.
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

// Header is everything in a sealed payload but the box itself, in either format version. All of
// it is authenticated.
type Header struct {
	// Version is FormatVersion ("1"; "" means the same) or FormatVersion2 ("2").
	Version   string
	Algorithm Algorithm
	KeyID     string
	Scope     Scope
	// WrappedDEK is version 1's wrapped data key.
	WrappedDEK []byte
	// WrappedBranchKey and DEKSalt are version 2's (format_v2.go): the wrapped branch key and the
	// HKDF salt of the payload's data key.
	WrappedBranchKey []byte
	DEKSalt          []byte
	// Compression is "" or CompressionDeflate.
	Compression string
}

// IsV2 reports whether the header is format version 2 (branch keys).
func (h Header) IsV2() bool { return h.Version == FormatVersion2 }

// headerAAD is the AEAD's additional data of either version: a label, then each field
// length-prefixed (as LengthPrefixed does), with a presence flag before the workflow id so that
// "no workflow id" differs from every workflow id, then the version's key fields, then the
// compression. Built in one allocation: it runs for every payload sealed and opened.
func headerAAD(label string, h Header, keyFields ...[]byte) []byte {
	wfLen := 1
	if h.Scope.HasWorkflow() {
		wfLen += len(h.Scope.WorkflowID)
	}
	size := (6+len(keyFields))*4 + len(label) + len(h.Algorithm) + len(h.KeyID) + len(h.Scope.Namespace) + wfLen + len(h.Compression)
	for _, f := range keyFields {
		size += len(f)
	}
	out := make([]byte, 0, size)
	out = appendField(out, label)
	out = appendField(out, string(h.Algorithm))
	out = appendField(out, h.KeyID)
	out = appendField(out, h.Scope.Namespace)
	out = binary.BigEndian.AppendUint32(out, uint32(wfLen))
	if h.Scope.HasWorkflow() {
		out = append(append(out, 1), h.Scope.WorkflowID...)
	} else {
		out = append(out, 0)
	}
	for _, f := range keyFields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return appendField(out, h.Compression)
}

func appendField(out []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(out, uint32(len(s))), s...)
}

// sealedMetadata is the metadata both versions share; keyFields are the version's own.
func sealedMetadata(version string, h Header, keyFields map[string][]byte) map[string][]byte {
	m := map[string][]byte{
		MetaEncoding:  []byte(Encoding),
		MetaKeyID:     []byte(h.KeyID),
		MetaVersion:   []byte(version),
		MetaAlgorithm: []byte(h.Algorithm),
		MetaNamespace: []byte(h.Scope.Namespace),
	}
	for k, v := range keyFields {
		m[k] = v
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

// parseHeaderV1 reads and validates a version-1 header (ParseHeader sends every version but 2
// here). MALFORMED_PAYLOAD for a missing or ill-typed field, UNSUPPORTED_FORMAT for a version,
// algorithm or compression this build does not read. The checks run in the same order as in
// primitives/format.ts, so a payload that is wrong in several ways fails with the same code in
// every language.
func parseHeaderV1(meta map[string][]byte, version string) (Header, error) {
	if version != FormatVersion {
		if len(version) > 16 {
			version = version[:16]
		}
		return Header{}, Errorf(CodeUnsupportedFormat, "%q expected %s, got %q", MetaVersion, FormatVersion, version)
	}
	h, err := readCommonFields(meta)
	if err != nil {
		return Header{}, err
	}
	if h.WrappedDEK, err = field(meta, MetaWrappedDEK, maxWrappedDEKSize); err != nil {
		return Header{}, err
	}
	if h.Compression, err = readCompression(meta); err != nil {
		return Header{}, err
	}
	h.Version = FormatVersion
	return h, nil
}

// readCommonFields reads, in this order, the fields both versions share: algorithm, key id,
// namespace, workflow id.
func readCommonFields(meta map[string][]byte) (Header, error) {
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
	scope, err := NewScope(namespace, workflowID)
	if err != nil {
		return Header{}, err
	}
	return Header{Algorithm: alg, KeyID: keyID, Scope: scope}, nil
}

func readCompression(meta map[string][]byte) (string, error) {
	if _, ok := meta[MetaCompression]; !ok {
		return "", nil
	}
	compression, err := text(meta, MetaCompression, 32)
	if err != nil {
		return "", err
	}
	if compression != CompressionDeflate {
		return "", Errorf(CodeUnsupportedFormat, "%q %q is not supported", MetaCompression, compression)
	}
	return compression, nil
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

// String is for logs: the header without key material (wrapped keys are shown by length only).
func (h Header) String() string {
	if h.IsV2() {
		return fmt.Sprintf("{v2 alg=%s key=%q scope=%s branchKey=%dB compression=%q}", h.Algorithm, h.KeyID, h.Scope.Key(), len(h.WrappedBranchKey), h.Compression)
	}
	return fmt.Sprintf("{alg=%s key=%q scope=%s dek=%dB compression=%q}", h.Algorithm, h.KeyID, h.Scope.Key(), len(h.WrappedDEK), h.Compression)
}
