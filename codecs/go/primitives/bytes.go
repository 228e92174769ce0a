package primitives

import "encoding/binary"

// LengthPrefixed joins fields, each as a 4-byte big-endian length followed by its bytes, so that no
// two different field lists serialize alike. The AEAD's additional data and the local keyring's
// wrapping data are built this way (docs/wire-format.md, "Additional data").
func LengthPrefixed(fields ...[]byte) []byte {
	total := 0
	for _, f := range fields {
		total += 4 + len(f)
	}
	out := make([]byte, 0, total)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}
