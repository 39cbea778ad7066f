package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/internal/strictjson"
	"github.com/kettle-build/kettle/provenance"
)

// ProtocolVersion is the version of the request and the result.
const ProtocolVersion = 1

// MaxRequestSize bounds request.json: a flake reference, a few store paths
// and options.
const MaxRequestSize = 64 << 10

// Request is what the host asks the agent to build, the file request.json
// of the input disk.
type Request struct {
	Version int `json:"version"`
	// FlakeRef is the locked flake reference to build, with "#attribute"
	// when it names one. The agent resolves it again inside the VM: the host
	// only chose it.
	FlakeRef string `json:"flakeRef"`
	// Substitute lists the store paths the host's input cache offers: the
	// flake's source and locked inputs, every one content-addressed. Nix
	// takes them from the cache as the build needs them, checking each
	// against its hash; the list is for the record (the agent logs its
	// length beside the cache's).
	Substitute []string `json:"substitute,omitempty"`
	// Platform is the attestation backend: sev-snp or tdx on hardware, or a
	// simulator (sim-snp, sim-tdx), whose bundles say SIMULATED.
	Platform attest.Platform `json:"platform"`
	// SimMeasurement is the launch measurement a simulated backend reports
	// (hex, 48 bytes); hardware reports its own.
	SimMeasurement string `json:"simMeasurement,omitempty"`
	// Nonce is the requester's nonce, hex, 32 bytes (all zero when absent).
	Nonce string `json:"nonce,omitempty"`
	// Artifacts is the compression of the NAR exports: zst, xz or none.
	Artifacts string `json:"artifacts,omitempty"`
	// DeepHash makes the agent re-hash every output of the closure
	// (kettle build --deep-hash); without it the intermediate outputs'
	// hashes come from the database of the measured Nix inside the VM.
	DeepHash bool `json:"deepHash,omitempty"`
}

// DecodeRequest reads request.json strictly: one JSON object, no unknown or
// duplicate keys, the current version, and every field well-formed.
func DecodeRequest(data []byte) (*Request, error) {
	if len(data) > MaxRequestSize {
		return nil, fmt.Errorf("request is %d bytes, larger than the limit of %d", len(data), MaxRequestSize)
	}
	var r Request
	if err := strictjson.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	return &r, nil
}

// Validate checks every field of r.
func (r *Request) Validate() error {
	if r.Version != ProtocolVersion {
		return fmt.Errorf("version: %d, want %d", r.Version, ProtocolVersion)
	}
	if r.FlakeRef == "" {
		return errors.New("flakeRef: missing")
	}
	if strings.ContainsAny(r.FlakeRef, " \t\r\n\x00") {
		return errors.New("flakeRef: contains whitespace or NUL")
	}
	for i, p := range r.Substitute {
		// The inside of the VM has no store but /nix/store.
		sp, err := nixstore.ParsePath(p)
		if err != nil {
			return fmt.Errorf("substitute[%d]: %w", i, err)
		}
		if sp.Dir != "/nix/store" {
			return fmt.Errorf("substitute[%d]: %q is not under /nix/store", i, p)
		}
	}
	switch r.Platform {
	case attest.PlatformSEVSNP, attest.PlatformTDX, attest.PlatformSimSNP, attest.PlatformSimTDX:
	default:
		return fmt.Errorf("platform: %q, want sev-snp, tdx, sim-snp or sim-tdx", r.Platform)
	}
	if r.SimMeasurement != "" {
		if !r.Platform.Simulated() {
			return fmt.Errorf("simMeasurement: given for %s, whose hardware reports its own", r.Platform)
		}
		if _, err := decodeHexN(r.SimMeasurement, 48); err != nil {
			return fmt.Errorf("simMeasurement: %w", err)
		}
	}
	if r.Nonce != "" {
		if _, err := decodeHexN(r.Nonce, 32); err != nil {
			return fmt.Errorf("nonce: %w", err)
		}
	}
	switch r.Artifacts {
	case "", "none":
	default:
		if _, err := provenance.ParseCompression(r.Artifacts); err != nil {
			return fmt.Errorf("artifacts: %w", err)
		}
	}
	return nil
}

// NonceBytes returns the request's nonce, all zero when there is none.
func (r *Request) NonceBytes() [32]byte {
	var n [32]byte
	if b, err := decodeHexN(r.Nonce, 32); err == nil {
		copy(n[:], b)
	}
	return n
}

func decodeHexN(s string, n int) ([]byte, error) {
	if len(s) != 2*n || strings.ToLower(s) != s {
		return nil, fmt.Errorf("want %d lower-case hex digits, got %d characters", 2*n, len(s))
	}
	return hex.DecodeString(s)
}

// The result disk: a header block, then the bundle as a .tar.
const (
	// ResultMagic opens the result header.
	ResultMagic = "KETTLE-RESULT/1\n"
	// ResultHeaderSize is the size of the header block; the bundle starts
	// after it.
	ResultHeaderSize = 4096
	// MaxBundleSize bounds the bundle a result may carry.
	MaxBundleSize = 4 << 30
	// ResultDiskSize is the size of the (sparse) result disk the host
	// gives the VM: the header and the largest bundle it takes back.
	ResultDiskSize = 1 << 30
)

// Result is the header of the result disk: what the agent reports back.
type Result struct {
	Version int  `json:"version"`
	OK      bool `json:"ok"`
	// Error says why the build failed ("" when OK), with Nix's own words
	// where Nix failed.
	Error string `json:"error,omitempty"`
	// BundleSize and BundleSHA256 describe the bundle .tar after the header.
	BundleSize   int64  `json:"bundleSize"`
	BundleSHA256 string `json:"bundleSha256,omitempty"`
	// Timings are the agent's phases (setup, inputs, build) and the build's
	// stages.
	Timings map[string]string `json:"timings,omitempty"`
}

// WriteResult writes the header for res and then the bundle bytes to w,
// which starts at the first byte of the result disk.
func WriteResult(w io.Writer, res Result, bundle []byte) error {
	res.Version = ProtocolVersion
	res.BundleSize = int64(len(bundle))
	if len(bundle) > 0 {
		sum := sha256.Sum256(bundle)
		res.BundleSHA256 = hex.EncodeToString(sum[:])
	}
	hdr, err := json.Marshal(res)
	if err != nil {
		return err
	}
	block := make([]byte, ResultHeaderSize)
	n := copy(block, ResultMagic)
	if n+len(hdr)+1 > len(block) {
		// An error text that long is cut, never the header's structure.
		res.Error = res.Error[:min(len(res.Error), 1024)] + " …"
		if hdr, err = json.Marshal(res); err != nil {
			return err
		}
	}
	copy(block[n:], hdr)
	block[n+len(hdr)] = '\n'
	if _, err := w.Write(block); err != nil {
		return fmt.Errorf("result header: %w", err)
	}
	if _, err := w.Write(bundle); err != nil {
		return fmt.Errorf("result bundle: %w", err)
	}
	return nil
}

// ReadResult reads what the agent left on the result disk r: the header,
// and for a successful build the bundle, checked against the header's size
// and digest. A disk the agent never wrote is an error that says so.
func ReadResult(r io.Reader) (*Result, []byte, error) {
	block := make([]byte, ResultHeaderSize)
	if _, err := io.ReadFull(r, block); err != nil {
		return nil, nil, fmt.Errorf("result disk: header: %w", err)
	}
	if !bytes.HasPrefix(block, []byte(ResultMagic)) {
		return nil, nil, errors.New("result disk: no result header (the agent did not finish)")
	}
	body := block[len(ResultMagic):]
	end := bytes.IndexByte(body, '\n')
	if end < 0 {
		return nil, nil, errors.New("result disk: header is not terminated")
	}
	if rest := body[end+1:]; len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, nil, errors.New("result disk: header block has data after the header")
	}
	var res Result
	if err := strictjson.Unmarshal(body[:end], &res); err != nil {
		return nil, nil, fmt.Errorf("result disk: header: %w", err)
	}
	if res.Version != ProtocolVersion {
		return nil, nil, fmt.Errorf("result disk: header version %d, want %d", res.Version, ProtocolVersion)
	}
	if res.BundleSize < 0 || res.BundleSize > MaxBundleSize {
		return nil, nil, fmt.Errorf("result disk: bundleSize %d is out of range (0 to %d)", res.BundleSize, int64(MaxBundleSize))
	}
	if !res.OK {
		if res.BundleSize != 0 {
			return nil, nil, errors.New("result disk: a failed build carries a bundle")
		}
		return &res, nil, nil
	}
	if res.BundleSize == 0 {
		return nil, nil, errors.New("result disk: a successful build without a bundle")
	}
	// Read what is there rather than allocate what the header claims.
	bundle, err := io.ReadAll(io.LimitReader(r, res.BundleSize))
	if err != nil {
		return nil, nil, fmt.Errorf("result disk: bundle: %w", err)
	}
	if int64(len(bundle)) != res.BundleSize {
		return nil, nil, fmt.Errorf("result disk: bundle: %d bytes, the header says %d", len(bundle), res.BundleSize)
	}
	sum := sha256.Sum256(bundle)
	if hex.EncodeToString(sum[:]) != res.BundleSHA256 {
		return nil, nil, fmt.Errorf("result disk: bundle SHA-256 %x, header says %s", sum, res.BundleSHA256)
	}
	return &res, bundle, nil
}
