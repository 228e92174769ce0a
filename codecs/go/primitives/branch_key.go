package primitives

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// The key hierarchy of format v2 (docs/wire-format.md, "Version 2"; primitives/branch-key.ts): a
// branch key per namespace, wrapped by a KEK with a context of its own, from which each workflow's
// data key is derived locally. Pure functions and constants; the caches and the KMS calls are
// keys.BranchKeyProvider's.
//
//	BK  = 32 random bytes, wrapped by the KEK:
//	        AWS KMS        EncryptionContext {"temporal-namespace": ns, "temporal-key-use": "branch-key"}
//	        local keyring  AES-256-GCM, additional data LengthPrefixed("temporal-envelope/v2/branch-key", kekId, ns)
//	DEK = HKDF-SHA256(ikm = BK, salt = dekSalt (32 random bytes),
//	                  info = LengthPrefixed("temporal-envelope/v2/dek", ns, 0x00 | 0x01‖workflowId), L = 32)

// KeyHierarchy is how new data keys are made: one KMS data key per workflow (format v1), or
// derived from a branch key per namespace (format v2). Every reader opens both.
type KeyHierarchy string

const (
	HierarchyPerWorkflow KeyHierarchy = "per-workflow"
	HierarchyBranch      KeyHierarchy = "branch"
)

const (
	BranchKeyBytes = 32
	DEKSaltBytes   = 32
)

// ParseKeyHierarchy accepts "" (the default, per-workflow), "per-workflow" and "branch".
func ParseKeyHierarchy(s string) (KeyHierarchy, error) {
	switch KeyHierarchy(s) {
	case "", HierarchyPerWorkflow:
		return HierarchyPerWorkflow, nil
	case HierarchyBranch:
		return HierarchyBranch, nil
	}
	return "", Errorf(CodeInvalidConfig, "%q expected \"per-workflow\" or \"branch\", got %q", "keyHierarchy", s)
}

// BranchKeyEncryptionContext is the AWS KMS EncryptionContext of a namespace's branch key: no data
// key's context has "temporal-key-use", so a branch key never unwraps as a data key or back.
func BranchKeyEncryptionContext(namespace string) map[string]string {
	return map[string]string{"temporal-namespace": namespace, "temporal-key-use": "branch-key"}
}

var dekInfoLabel = []byte("temporal-envelope/v2/dek")

// DeriveBranchDataKey is a workflow scope's data key, derived from its namespace's branch key and
// the payload's salt. No KMS call. The info may be over 1024 bytes (a namespace and a workflow id of
// up to 1024 bytes each); crypto/hkdf allows it, as RFC 5869 does.
func DeriveBranchDataKey(branchKey, dekSalt []byte, scope Scope) ([]byte, error) {
	if len(branchKey) != BranchKeyBytes {
		return nil, Errorf(CodeTamperedCiphertext, "%q expected %d bytes, got %d", "branchKey", BranchKeyBytes, len(branchKey))
	}
	if len(dekSalt) != DEKSaltBytes {
		return nil, Errorf(CodeMalformedPayload, "%q expected %d bytes, got %d", "dekSalt", DEKSaltBytes, len(dekSalt))
	}
	info := LengthPrefixed(dekInfoLabel, []byte(scope.Namespace), workflowField(scope))
	key, err := hkdf.Key(sha256.New, branchKey, dekSalt, string(info), KeyBytes)
	if err != nil {
		return nil, Wrapf(CodeInvalidConfig, err, "HKDF-SHA256 refused the data key derivation")
	}
	return key, nil
}

// workflowField is a scope's workflow as the format writes it: 0x00 for none, else 0x01 and the id.
func workflowField(s Scope) []byte {
	if !s.HasWorkflow() {
		return []byte{0}
	}
	return append([]byte{1}, s.WorkflowID...)
}

// A branch-derived data key's wrapped form inside a process: the wrapped branch key and the salt,
// in the one Wrapped byte string the KeyProvider interface and the data-key cache carry. Never
// written to the wire as such: the format layer writes its halves as envelope-branch-key and
// envelope-dek-salt and rebuilds it when opening. The label keeps it apart from any format-v1
// wrapped data key (a KMS ciphertext blob, or a nonce-first local wrap). Same bytes as
// packBranchWrapped in primitives/branch-key.ts, though nothing outside a process depends on that.
const pairLabel = "temporal-envelope/v2/branch-wrapped"

// PackBranchWrapped joins a wrapped branch key and a salt into a data key's in-process wrapped form.
func PackBranchWrapped(wrappedBranchKey, dekSalt []byte) []byte {
	return LengthPrefixed([]byte(pairLabel), wrappedBranchKey, dekSalt)
}

// UnpackBranchWrapped splits a packed branch-wrapped key (views, not copies); ok is false for
// anything else, a format-v1 wrapped data key included.
func UnpackBranchWrapped(wrapped []byte) (wrappedBranchKey, dekSalt []byte, ok bool) {
	var fields [3][]byte
	n, rest := 0, wrapped
	for len(rest) > 0 {
		if len(rest) < 4 || n == 3 {
			return nil, nil, false
		}
		size := binary.BigEndian.Uint32(rest)
		if uint64(size) > uint64(len(rest)-4) {
			return nil, nil, false
		}
		fields[n] = rest[4 : 4+size]
		rest = rest[4+size:]
		n++
	}
	if n != 3 || string(fields[0]) != pairLabel || len(fields[1]) == 0 || len(fields[2]) != DEKSaltBytes {
		return nil, nil, false
	}
	return fields[1], fields[2], true
}
