package testenv

import (
	"time"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
)

// RotateKeyring does what `temporal-envelope keys rotate` does to a local keyring file (keys/
// keyring-file.ts rotateDocument + writeKeyring): a new primary KEK of the next version, the old
// primary demoted to decrypt-only, the file replaced atomically with mode 0600. Returns the new id.
func RotateKeyring(file string) (string, error) {
	doc, err := keys.ReadKeyring(file, false)
	if err != nil {
		return "", err
	}
	next := 1
	for _, k := range doc.Keys {
		if k.Version >= next {
			next = k.Version + 1
		}
	}
	entry, err := keys.NewKeyEntry(next, time.Now())
	if err != nil {
		return "", err
	}
	for i := range doc.Keys {
		if doc.Keys[i].State == keys.KekPrimary {
			doc.Keys[i].State = keys.KekDecryptOnly
		}
	}
	doc.Keys = append(doc.Keys, entry)
	return entry.ID, keys.WriteKeyring(file, doc)
}
