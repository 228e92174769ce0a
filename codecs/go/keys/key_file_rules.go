package keys

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// The rules every key file is read by, the same in keys/file-schema.ts and the Python
// codec's keys/key_file_rules.py: a leading UTF-8 byte order mark is ignored (and mentioned only
// when the file does not parse anyway), key bytes are canonical base64, times are ISO-8601 instants,
// and a directory at the path is called a directory.

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// withoutBOM drops a UTF-8 byte order mark at the start of text (Windows editors add one) and
// says whether there was one.
func withoutBOM(text []byte) ([]byte, bool) {
	if bytes.HasPrefix(text, utf8BOM) {
		return text[len(utf8BOM):], true
	}
	return text, false
}

// bomNote is appended to "is not valid JSON/YAML" when the file began with a byte order mark.
func bomNote(hadBOM bool) string {
	if hadBOM {
		return " (after the UTF-8 byte order mark at its start, which is ignored)"
	}
	return ""
}

// decodeKeyBytes decodes canonical standard base64 (= padding) of exactly n bytes. Go's decoder
// skips line breaks and ignores bits past the last byte, so re-encoding must give back the text.
// The problem, if any, is worded as keys/file-schema.ts words it.
func decodeKeyBytes(s string, n int) ([]byte, string) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		clear(b)
		return nil, fmt.Sprintf("expected canonical base64 of %d bytes (standard alphabet, = padding, no whitespace or other characters)", n)
	}
	if len(b) != n {
		clear(b)
		return nil, fmt.Sprintf("expected base64 of %d bytes, got %d", n, len(b))
	}
	return b, ""
}

const instantProblem = "expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z"

var instantPattern = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$`)

// isISOInstant reports whether s is YYYY-MM-DDTHH:MM:SS[.fraction] with Z or a ±HH:MM offset,
// naming a real calendar time: what every writer of ours produces.
func isISOInstant(s string) bool {
	m := instantPattern.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	year, month, day := n(1), n(2), n(3)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || n(4) > 23 || n(5) > 59 || n(6) > 59 {
		return false
	}
	return m[7] == "" || (n(7) <= 23 && n(8) <= 59)
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if (year%4 == 0 && year%100 != 0) || year%400 == 0 {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// optionalInstant checks a time field that may be absent.
func optionalInstant(e map[string]any, field string) bool {
	v, present := e[field]
	if !present {
		return true
	}
	s, ok := v.(string)
	return ok && isISOInstant(s)
}

// unmarshalYAMLPlain decodes YAML as the TypeScript reader's (yaml, core schema) does: an
// unquoted timestamp stays the string it was written as, so the instant rule sees what the file
// says rather than a time.Time that cannot tell 2026-01-01 from 2026-01-01T00:00:00Z.
func unmarshalYAMLPlain(text []byte) (any, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(text, &node); err != nil {
		return nil, err
	}
	return plainYAML(&node)
}

func plainYAML(n *yaml.Node) (any, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plainYAML(n.Content[0])
	case yaml.AliasNode:
		return plainYAML(n.Alias)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			var key string
			if err := n.Content[i].Decode(&key); err != nil {
				return nil, err
			}
			v, err := plainYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plainYAML(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	if n.ShortTag() == "!!timestamp" {
		return n.Value, nil
	}
	var v any
	err := n.Decode(&v)
	return v, err
}
