// Package testenv is for tests only: the seeded random stream of the known-answer vectors, the
// repository's paths, the real servers the integration tests drive (the Temporal dev server and
// moto's KMS on loopback, from .venv/bin, which `node scripts/setup-test-deps.mjs` installs), and
// a keyring rotation done the way `temporal-envelope keys rotate` does it. Nothing outside tests
// may import it.
package testenv
