package tlog

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
)

// MaxBundleSize bounds a bundle the log stores: its artifacts are NAR
// exports, which may be large, but not larger than this.
const MaxBundleSize = 64 << 30

// Staged is a bundle copied into the log directory, as the one archive the
// log will store, and not yet logged. Verify the copy (Path), not the
// original: the entry describes the bytes the log stores.
type Staged struct {
	path   string // bundles/.stage-*.tar
	source string // the bundle as the user named it
	entry  Entry  // every field but Verified and Reason
}

// Path is the staged archive, a bundle that provenance.OpenBundle and
// `kettle verify` read.
func (s *Staged) Path() string { return s.path }

// Source is the bundle the archive was copied from.
func (s *Staged) Source() string { return s.source }

// ProvenanceSHA256 is the SHA-256 of the bundle's provenance.json.
func (s *Staged) ProvenanceSHA256() [32]byte { return s.entry.ProvenanceSHA256 }

// Discard removes the staged archive; it does nothing once the bundle is
// logged.
func (s *Staged) Discard() {
	if s.path != "" {
		os.Remove(s.path)
		s.path = ""
	}
}

// Stage copies the bundle at src (a directory, or a .tar archive of any
// name) into the log as one archive: a tar file's bytes as they are, a
// directory as a tar archive of its files in a fixed order with fixed
// metadata (the order and metadata of `kettle build -o X.tar`). The copy
// must open as a Kettle bundle; what its files say is read for the entry
// where they decode (a bundle that does not verify may be logged with
// AppendOptions.AllowUnverified). The caller discards the staged copy if
// it does not append it.
func (l *Log) Stage(src string) (*Staged, error) {
	dir := l.files.path(DirBundles)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, stagePrefix+"*.tar")
	if err != nil {
		return nil, err
	}
	s := &Staged{path: tmp.Name(), source: src}
	sum, err := writeArchive(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.Discard()
		return nil, fmt.Errorf("bundle %s: %w", src, bundleDetail(err))
	}
	b, err := provenance.OpenBundle(s.path)
	if err != nil {
		s.Discard()
		// What is wrong with the copy is what is wrong with the bytes read
		// from the user's bundle: name that.
		return nil, fmt.Errorf("bundle %s: %w", src, bundleDetail(err))
	}
	s.entry = describe(b, sum)
	return s, nil
}

// bundleDetail drops the "bundle <path>: " that provenance.OpenBundle and
// the file reading put before what is wrong, for the caller to name the
// bundle once.
func bundleDetail(err error) error {
	switch err.(type) {
	case *os.PathError, *inputfile.LimitError, *inputfile.TypeError:
		return unwrapPath(err)
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "bundle ") {
		return inner
	}
	return err
}

// writeArchive writes the bundle at src to w as one tar archive and
// returns the archive's SHA-256.
func writeArchive(w io.Writer, src string) ([32]byte, error) {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	fi, err := os.Stat(src)
	if err != nil {
		return [32]byte{}, err
	}
	if fi.IsDir() {
		err = archiveDir(bw, src)
	} else {
		err = copyFile(bw, src)
	}
	if err != nil {
		return [32]byte{}, err
	}
	if err := bw.Flush(); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

func copyFile(w io.Writer, src string) error {
	f, err := inputfile.Open(src, MaxBundleSize)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// archiveDir writes a bundle directory as a tar archive: the three JSON
// files, then the artifacts by name, each mode 0644, owner 0, time 0.
// provenance.OpenBundle checks the directory's layout first; the staged
// archive is opened again after, so a directory that changes in between
// is caught.
func archiveDir(w io.Writer, src string) error {
	b, err := provenance.OpenBundle(src)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{{provenance.FileProvenance, b.Provenance}, {provenance.FileEvidence, b.Evidence}, {provenance.FileManifest, b.Manifest}} {
		if err := tw.WriteHeader(tarHeader(f.name, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	for _, a := range b.Artifacts {
		if err := archiveFile(tw, filepath.Join(src, filepath.FromSlash(a.File)), a.File); err != nil {
			return err
		}
	}
	return tw.Close()
}

func archiveFile(tw *tar.Writer, p, name string) error {
	f, err := inputfile.Open(p, math.MaxInt64)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(tarHeader(name, f.Size())); err != nil {
		return err
	}
	if n, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	} else if n != f.Size() {
		return fmt.Errorf("%s: size changed while it was copied", name)
	}
	return nil
}

func tarHeader(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}
}

// describe reads what the entry says of a bundle: the digests always, the
// manifest root, the platform and the subjects where the files decode.
func describe(b *provenance.Bundle, archive [32]byte) Entry {
	e := Entry{
		ProvenanceSHA256: sha256.Sum256(b.Provenance),
		BundleSHA256:     archive,
		Platform:         Unknown,
	}
	if m, err := b.DecodeManifest(); err == nil {
		root := m.Root
		e.ManifestRoot = &root
	}
	if ev, err := attest.DecodeEvidence(b.Evidence); err == nil && checkPlatform(string(ev.Platform)) == nil {
		e.Platform = string(ev.Platform)
	}
	if st, err := b.DecodeStatement(); err == nil {
		for _, s := range st.Subjects {
			if checkSubjectName(s.Name) != nil || len(e.Subjects) == MaxSubjects {
				e.Subjects = nil
				break
			}
			e.Subjects = append(e.Subjects, Subject{Name: s.Name, SHA256: s.SHA256})
		}
	}
	return e
}

// BundleDigests returns the two digests a log entry records of the bundle
// at src, computed as Stage computes them: the SHA-256 of its
// provenance.json and of the archive the log would store. They let
// CheckInclusion tie a proof to a bundle a reader holds.
func BundleDigests(src string) (provenanceSHA256, bundleSHA256 [32]byte, err error) {
	b, err := provenance.OpenBundle(src)
	if err != nil {
		return provenanceSHA256, bundleSHA256, err
	}
	bundleSHA256, err = writeArchive(io.Discard, src)
	if err != nil {
		return provenanceSHA256, bundleSHA256, fmt.Errorf("bundle %s: %w", src, bundleDetail(err))
	}
	return sha256.Sum256(b.Provenance), bundleSHA256, nil
}
