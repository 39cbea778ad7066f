package agent

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// The input disk is a tar archive: request.json first, then the binary
// cache under cache/ (nix-cache-info, *.narinfo, nar/…). Nothing else.
const (
	InputRequest  = "request.json"
	InputCacheDir = "cache"
)

// Limits of the input disk.
const (
	// MaxInputSize bounds the whole archive the agent reads.
	MaxInputSize = 16 << 30
	// MaxInputEntries bounds the number of entries.
	MaxInputEntries = 1 << 20
)

// WriteInput writes the input disk's archive to w: the request, then every
// file under cacheDir (regular files and directories only), in sorted
// order, with fixed metadata.
func WriteInput(w io.Writer, req *Request, cacheDir string) error {
	r := *req
	r.Version = ProtocolVersion
	if err := r.Validate(); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	data, err := json.MarshalIndent(&r, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: InputRequest, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if cacheDir != "" {
		var names []string
		err := filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() && !d.IsDir() {
				return fmt.Errorf("%s: neither a regular file nor a directory", p)
			}
			rel, err := filepath.Rel(cacheDir, p)
			if err != nil {
				return err
			}
			if rel != "." {
				names = append(names, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("input cache: %w", err)
		}
		slices.Sort(names)
		for _, rel := range names {
			if err := addCacheFile(tw, cacheDir, rel); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func addCacheFile(tw *tar.Writer, dir, rel string) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	name := InputCacheDir + "/" + rel
	if fi.IsDir() {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX})
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("input cache %s: %w", rel, err)
	}
	return nil
}

// ReadInput reads the input disk's archive from r: it decodes the request
// and extracts the cache into dir (which must exist and be empty). It
// refuses anything but request.json and regular files and directories
// under cache/, names that leave the cache, and archives beyond the limits.
func ReadInput(r io.Reader, dir string) (*Request, error) {
	tr := tar.NewReader(io.LimitReader(r, MaxInputSize))
	var req *Request
	for n := 0; ; n++ {
		if n >= MaxInputEntries {
			return nil, fmt.Errorf("input disk: more than %d entries", MaxInputEntries)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("input disk: %w", err)
		}
		if n == 0 {
			if h.Name != InputRequest || h.Typeflag != tar.TypeReg {
				return nil, fmt.Errorf("input disk: first entry %q, want %s", h.Name, InputRequest)
			}
			if h.Size > MaxRequestSize {
				return nil, fmt.Errorf("input disk: %s is %d bytes, larger than the limit of %d", InputRequest, h.Size, MaxRequestSize)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("input disk: %s: %w", InputRequest, err)
			}
			if req, err = DecodeRequest(data); err != nil {
				return nil, err
			}
			continue
		}
		if err := extractCacheEntry(tr, h, dir); err != nil {
			return nil, fmt.Errorf("input disk: %w", err)
		}
	}
	if req == nil {
		return nil, fmt.Errorf("input disk: no %s", InputRequest)
	}
	return req, nil
}

// extractCacheEntry writes one cache entry below dir.
func extractCacheEntry(tr *tar.Reader, h *tar.Header, dir string) error {
	name := strings.TrimSuffix(h.Name, "/")
	rel, ok := strings.CutPrefix(name, InputCacheDir+"/")
	if !ok || rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) {
		return fmt.Errorf("entry %q: not a file under %s/", h.Name, InputCacheDir)
	}
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		return nil
	case tar.TypeReg:
		// O_EXCL: an entry given twice, or through a directory that is a
		// file, fails instead of overwriting.
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		return f.Close()
	}
	return fmt.Errorf("entry %q: type %q, want a regular file or a directory", h.Name, h.Typeflag)
}
