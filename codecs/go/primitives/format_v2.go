package primitives

// The temporal-envelope wire format, version 2: data keys derived from a branch key per namespace
// (branch_key.go). docs/wire-format.md ("Version 2") is the specification, primitives/format-v2.ts
// the TypeScript side, test/vectors/envelope-v2.json the known answers. Version 1 is unchanged.
//
// metadata (UTF-8 unless noted)
//
//	encoding               "binary/encrypted"
//	encryption-key-id      KEK id that wrapped the branch key
//	envelope-version       "2"
//	envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
//	envelope-namespace     namespace the payload is sealed to
//	envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
//	envelope-branch-key    the wrapped branch key (raw bytes, provider-specific, 1..4096)
//	envelope-dek-salt      32 bytes: the HKDF salt of this payload's data key
//	envelope-compression   "deflate" when the plaintext was raw-deflated before sealing
//	(no envelope-dek: a version-2 header carrying one is refused as UNSUPPORTED_FORMAT)
//
// data: nonce ‖ ciphertext ‖ tag, as in version 1.
//
// additional data: LengthPrefixed("temporal-envelope/v2/payload", alg, keyId, namespace,
// 0x00 | 0x01‖workflowId, wrapped branch key, dek salt, compression or "").
const (
	FormatVersion2 = "2"

	MetaBranchKey = "envelope-branch-key"
	MetaDEKSalt   = "envelope-dek-salt"
)

const (
	aadLabelV2              = "temporal-envelope/v2/payload"
	maxWrappedBranchKeySize = 4096
)

// parseHeaderV2 reads a version-2 header. Checks in this order (every codec the same, so a header
// with several faults fails alike everywhere): no envelope-dek, algorithm, key id, namespace,
// workflow id (as version 1 reads them), branch key, salt, compression.
func parseHeaderV2(meta map[string][]byte) (Header, error) {
	// A version-1 header relabelled: not a version-2 payload, and not one we could tell apart from one.
	if _, ok := meta[MetaWrappedDEK]; ok {
		return Header{}, Errorf(CodeUnsupportedFormat, "version 2 carries no %q: a version-1 header labelled 2", MetaWrappedDEK)
	}
	h, err := readCommonFields(meta)
	if err != nil {
		return Header{}, err
	}
	if h.WrappedBranchKey, err = field(meta, MetaBranchKey, maxWrappedBranchKeySize); err != nil {
		return Header{}, err
	}
	if h.DEKSalt, err = field(meta, MetaDEKSalt, DEKSaltBytes); err != nil {
		return Header{}, err
	}
	if len(h.DEKSalt) != DEKSaltBytes {
		return Header{}, Errorf(CodeMalformedPayload, "metadata %q expected %d bytes, got %d", MetaDEKSalt, DEKSaltBytes, len(h.DEKSalt))
	}
	if h.Compression, err = readCompression(meta); err != nil {
		return Header{}, err
	}
	h.Version = FormatVersion2
	return h, nil
}
