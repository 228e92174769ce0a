package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// KmsKeyConfigFormat tags the AWS KMS key config file (keys/kms-key-config.ts): which KMS keys a
// deployment uses, primary first. KMS keeps the key material; `temporal-envelope keys rotate
// --provider aws-kms` edits this small file and running workers re-read it.
//
//	{ "format": "temporal-envelope-kms-keys/v1",
//	  "keys": [ { "keyId": "alias/te-2026", "state": "primary", "added": "2026-12-24T10:00:00.000Z" },
//	            { "keyId": "arn:aws:kms:…:key/…", "state": "decrypt-only", "added": "…", "demoted": "…" } ] }
//
// JSON, or YAML when the file name ends in .yaml or .yml.
const KmsKeyConfigFormat = "temporal-envelope-kms-keys/v1"

var kmsKeyIDPattern = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)

// IsKmsKeyID reports whether s is a KMS key ARN, alias ARN, key id, multi-region key id or alias/<name>.
func IsKmsKeyID(s string) bool { return len(s) <= 2048 && kmsKeyIDPattern.MatchString(s) }

// ReadKmsKeyConfig reads and validates a KMS key config file into the keys it lists.
func ReadKmsKeyConfig(file string) ([]AwsKmsKey, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, primitives.Errorf(primitives.CodeKeyringError, "key config %s does not exist; create it with \"temporal-envelope keys init --provider aws-kms --kms-key <arn|alias>\"", file)
		}
		if errors.Is(err, syscall.EISDIR) {
			return nil, primitives.Errorf(primitives.CodeKeyringError, "key config %s is a directory, expected a key config file", file)
		}
		return nil, primitives.Wrapf(primitives.CodeKeyringError, err, "key config %s cannot be read: %s", file, errnoName(err))
	}
	body, hadBOM := withoutBOM(text)
	var doc any
	isYAML := strings.HasSuffix(strings.ToLower(file), ".yaml") || strings.HasSuffix(strings.ToLower(file), ".yml")
	if isYAML {
		doc, err = unmarshalYAMLPlain(body)
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		err = dec.Decode(&doc)
	}
	if err != nil {
		kind := "JSON"
		if isYAML {
			kind = "YAML"
		}
		return nil, primitives.Errorf(primitives.CodeKeyringError, "key config %s is not valid %s%s", file, kind, bomNote(hadBOM))
	}
	return validateKmsKeyConfig(doc, file)
}

func validateKmsKeyConfig(doc any, file string) ([]AwsKmsKey, error) {
	fail := func(format string, args ...any) ([]AwsKmsKey, error) {
		return nil, primitives.Errorf(primitives.CodeKeyringError, "key config %s: "+format, append([]any{file}, args...)...)
	}
	d, ok := doc.(map[string]any)
	if !ok {
		return fail("expected an object")
	}
	if d["format"] != KmsKeyConfigFormat {
		return fail("%q expected %q", "format", KmsKeyConfigFormat)
	}
	list, ok := d["keys"].([]any)
	if !ok || len(list) == 0 {
		return fail("%q expected a non-empty array", "keys")
	}
	seen := map[string]bool{}
	out := make([]AwsKmsKey, 0, len(list))
	for i, k := range list {
		e, ok := k.(map[string]any)
		if !ok {
			return fail("keys[%d] expected an object", i)
		}
		id, ok := e["keyId"].(string)
		if !ok || !IsKmsKeyID(id) {
			return fail("keys[%d].keyId expected a KMS key ARN, key id or alias/name", i)
		}
		if seen[id] {
			return fail("keys[%d].keyId %q appears twice", i, id)
		}
		seen[id] = true
		state, _ := e["state"].(string)
		if state != string(KekPrimary) && state != string(KekDecryptOnly) && state != string(KekRetired) {
			return fail("keys[%d].state expected primary, decrypt-only or retired", i)
		}
		if (state == string(KekPrimary)) != (i == 0) {
			return fail("keys[%d].state: the first key, and only the first, must be \"primary\"", i)
		}
		for _, field := range []string{"added", "demoted", "retired"} {
			if v, present := e[field]; (present || field == "added") && !isInstantValue(v) {
				return fail("keys[%d].%s %s", i, field, instantProblem)
			}
		}
		out = append(out, AwsKmsKey{KeyID: id, State: KekState(state)})
	}
	return out, nil
}

func isInstantValue(v any) bool {
	s, ok := v.(string)
	return ok && isISOInstant(s)
}
