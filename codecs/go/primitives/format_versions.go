package primitives

import commonpb "go.temporal.io/api/common/v1"

// Which wire-format versions this build reads and writes, in one place (primitives/format-versions.ts):
// version 1 (format.go, a KMS data key per workflow) and version 2 (format_v2.go, data keys derived
// from a branch key). The codec and PeekScope read headers through here; a data key's wrapped form
// decides which version a payload is sealed in (HeaderFor).

// ParseHeader reads and validates the header of a payload in our format, any version this build
// reads. Version 2 goes to its own parser; everything else to version 1's, which answers
// UNSUPPORTED_FORMAT for a version it does not know (as a version-1-only reader answers a
// version-2 payload).
func ParseHeader(p *commonpb.Payload) (Header, error) {
	meta := p.GetMetadata()
	if meta == nil {
		return Header{}, Errorf(CodeMalformedPayload, "payload %q is missing", "metadata")
	}
	version, err := text(meta, MetaVersion, 16)
	if err != nil {
		return Header{}, err
	}
	if version == FormatVersion2 {
		return parseHeaderV2(meta)
	}
	h, err := parseHeaderV1(meta, version)
	if err != nil {
		return Header{}, err
	}
	// The in-process form of a branch-derived key must come only from a version-2 header.
	if _, _, ok := UnpackBranchWrapped(h.WrappedDEK); ok {
		return Header{}, Errorf(CodeMalformedPayload, "metadata %q is not a version-1 wrapped data key", MetaWrappedDEK)
	}
	return h, nil
}

// HeaderFor is the header a payload sealed with a leased data key gets: version 2 when the key was
// derived from a branch key (its wrapped form says so), else version 1.
func HeaderFor(keyID string, wrapped []byte, scope Scope, algorithm Algorithm, compression string) Header {
	h := Header{Version: FormatVersion, Algorithm: algorithm, KeyID: keyID, Scope: scope, Compression: compression}
	if branchKey, salt, ok := UnpackBranchWrapped(wrapped); ok {
		h.Version, h.WrappedBranchKey, h.DEKSalt = FormatVersion2, branchKey, salt
	} else {
		h.WrappedDEK = wrapped
	}
	return h
}

// WrappedKey is what a KeyProvider unwraps for this header: version 1's wrapped data key, or
// version 2's branch key and salt together (PackBranchWrapped).
func (h Header) WrappedKey() []byte {
	if h.IsV2() {
		return PackBranchWrapped(h.WrappedBranchKey, h.DEKSalt)
	}
	return h.WrappedDEK
}

// AdditionalData is the AEAD's additional data for a header of either version.
func AdditionalData(h Header) []byte {
	if h.IsV2() {
		return headerAAD(aadLabelV2, h, h.WrappedBranchKey, h.DEKSalt)
	}
	return headerAAD(aadLabel, h, h.WrappedDEK)
}

// SealedMetadata is the metadata of a payload sealed under h.
func SealedMetadata(h Header) map[string][]byte {
	if h.IsV2() {
		return sealedMetadata(FormatVersion2, h, map[string][]byte{MetaBranchKey: h.WrappedBranchKey, MetaDEKSalt: h.DEKSalt})
	}
	return sealedMetadata(FormatVersion, h, map[string][]byte{MetaWrappedDEK: h.WrappedDEK})
}

// PeekScope reads the scope and key id of a sealed payload (any version) without opening it (to
// authorize before any KMS call). ok is false for payloads not in our format or with a bad header.
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
