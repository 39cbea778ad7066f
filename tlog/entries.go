package tlog

import (
	"context"
	"fmt"
)

// Entries returns every entry of the log at dir, in index order, with
// Index and BundlePath set, after verifying the whole log as Verify does
// with the verifier key the log names itself (log.vkey). That proves the
// log is intact and signed by that key, not that the key is the one a
// reader trusts: a reader who has the log's key from elsewhere calls
// Verify with it.
// It waits for an append that holds the log's lock to finish.
func Entries(dir string) ([]Entry, error) {
	data, err := logFiles{dir}.read(FileVKey, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	v, err := ParseVerifier(string(data))
	if err != nil {
		return nil, fmt.Errorf("log %s: %s: %w", dir, FileVKey, err)
	}
	res, err := Verify(context.Background(), dir, VerifyOptions{Verifier: v})
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}
