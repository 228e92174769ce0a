package testenv

import (
	"os"
	"path/filepath"
	"runtime"
)

// RepoRoot is the temporal-envelope checkout this module sits in (codecs/go is two levels down).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// ModuleRoot is codecs/go.
func ModuleRoot() string { return filepath.Join(RepoRoot(), "codecs", "go") }

// VenvBin is a program in the repository's .venv/bin, or the override in env when set.
func VenvBin(name, env string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	return filepath.Join(RepoRoot(), ".venv", "bin", name)
}
