// Package integration holds the Go codec's tests against a real Temporal dev server (started by
// TestMain from .venv/bin/temporal, stopped after): sealed history, scope per workflow, refused
// plaintext, rotation without restart, sealed failures, the sealed warrant header, a KMS outage,
// and the example programs. It has no code of its own.
package integration
