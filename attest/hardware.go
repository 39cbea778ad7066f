package attest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/report"
	"github.com/google/go-sev-guest/abi"
	sevclient "github.com/google/go-sev-guest/client"
	"github.com/google/go-sev-guest/kds"
	tabi "github.com/google/go-tdx-guest/abi"
)

// Providers configfs-tsm names in a report entry's provider attribute.
const (
	tsmProviderSEV = "sev_guest"
	tsmProviderTDX = "tdx_guest"
)

// measurementProbe is the REPORT_DATA of the report a hardware attester
// takes when it starts, to learn the launch measurement it will vouch for.
func measurementProbe() [64]byte {
	var rd [64]byte
	sum := sha256.Sum256([]byte("kettle-measurement-probe-v1"))
	copy(rd[:], sum[:])
	return rd
}

// tsmClient is the configfs-tsm client: go-configfs-tsm's report protocol
// over the real file system under root (the kernel's ABI: an entry
// directory made by mkdir, the inblob and privlevel attributes written, the
// outblob, auxblob, provider and generation attributes read, the entry
// removed by rmdir). Linux's own client (linuxtsm) is the same code rooted at
// "/"; this one takes a root so that tests run it against a fake tree.
type tsmClient struct {
	root string
	// kernel, when set, plays the kernel's side after each mkdir and write
	// and before each rmdir. Only tests set it: on a real configfs tree the
	// kernel does this work.
	kernel func(op, path string) error
}

func (c *tsmClient) path(name string) string { return filepath.Join(c.root, name) }

func (c *tsmClient) MkdirTemp(dir, pattern string) (string, error) {
	p, err := os.MkdirTemp(c.path(dir), pattern)
	if err != nil {
		return "", err
	}
	rel := filepath.Join(dir, filepath.Base(p))
	if c.kernel != nil {
		if err := c.kernel("mkdir", p); err != nil {
			return "", err
		}
	}
	return rel, nil
}

func (c *tsmClient) ReadFile(name string) ([]byte, error) { return os.ReadFile(c.path(name)) }

func (c *tsmClient) WriteFile(name string, contents []byte) error {
	// configfs attributes exist already; O_TRUNC without O_CREATE, as the
	// kernel's store() takes the whole buffer.
	f, err := os.OpenFile(c.path(name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(contents); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if c.kernel != nil {
		return c.kernel("write", c.path(name))
	}
	return nil
}

func (c *tsmClient) RemoveAll(name string) error {
	if c.kernel != nil {
		if err := c.kernel("rmdir", c.path(name)); err != nil {
			return err
		}
	}
	return os.Remove(c.path(name)) // rmdir: configfs removes the attributes
}

var _ configfsi.Client = (*tsmClient)(nil)

// hardware is the sev-snp or tdx backend of the machine it runs on.
type hardware struct {
	platform    Platform
	root        string
	tsm         *tsmClient // nil when configfs-tsm is absent
	measurement []byte
	collateral  map[string][]byte
}

// newHardware returns the backend for p (sev-snp or tdx) on the machine
// whose file system is rooted at root, and takes one report to learn the
// launch measurement. It fails, saying what it looked for, when the guest
// interface is absent or does not answer.
func newHardware(ctx context.Context, p Platform, root string, opts AttesterOptions, kernel func(op, path string) error) (*hardware, error) {
	if opts.Measurement != nil {
		return nil, fmt.Errorf("%s: the launch measurement is the hardware's; it cannot be set", p)
	}
	if opts.HostData != ([32]byte{}) {
		return nil, fmt.Errorf("%s: HOST_DATA / MRCONFIGID is set by the launcher at launch, not by the attester", p)
	}
	h := &hardware{platform: p, root: root, collateral: opts.Collateral}
	if info, err := os.Stat(filepath.Join(root, ConfigfsTSMReport)); err == nil && info.IsDir() {
		h.tsm = &tsmClient{root: root, kernel: kernel}
	}
	if h.tsm == nil && p == PlatformTDX {
		return nil, fmt.Errorf("tdx: %s is not there (Linux 6.7 or later with the tdx_guest driver provides it)", ConfigfsTSMReport)
	}
	if h.tsm == nil {
		if _, err := os.Stat(filepath.Join(root, DevSEVGuest)); err != nil {
			return nil, fmt.Errorf("sev-snp: neither %s nor %s is there (is this an SEV-SNP guest with the sev-guest driver?)", ConfigfsTSMReport, DevSEVGuest)
		}
	}
	ev, err := h.Attest(ctx, measurementProbe())
	if err != nil {
		return nil, err
	}
	if h.measurement, err = measurementOf(ev); err != nil {
		return nil, err
	}
	return h, nil
}

// measurementOf reads the launch measurement from evidence this machine
// just produced (the verifier checks it later; this is for the provenance's
// builder identity).
func measurementOf(ev *Evidence) ([]byte, error) {
	switch {
	case ev.Platform.snp():
		r, err := abi.ReportToProto(ev.Report)
		if err != nil {
			return nil, fmt.Errorf("%s: report: %w", ev.Platform, err)
		}
		return r.GetMeasurement(), nil
	default:
		q, err := parseQuote(ev.Report)
		if err != nil {
			return nil, fmt.Errorf("%s: quote: %w", ev.Platform, err)
		}
		return q.GetTdQuoteBody().GetMrTd(), nil
	}
}

func (h *hardware) Platform() Platform { return h.platform }

func (h *hardware) Measurement() []byte { return append([]byte(nil), h.measurement...) }

func (h *hardware) Attest(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ev *Evidence
	var err error
	switch {
	case h.tsm != nil:
		ev, err = h.attestTSM(reportData)
	default:
		ev, err = h.attestSEVGuest(reportData)
	}
	if err != nil {
		return nil, err
	}
	ev.Collateral = h.collateral
	if err := ev.validate(); err != nil {
		return nil, fmt.Errorf("%s: the evidence obtained is not valid: %w", h.platform, err)
	}
	return ev, nil
}

// attestTSM obtains a report or quote through configfs-tsm.
func (h *hardware) attestTSM(reportData [64]byte) (*Evidence, error) {
	resp, err := report.Get(h.tsm, &report.Request{InBlob: reportData[:], GetAuxBlob: h.platform == PlatformSEVSNP})
	if err != nil {
		return nil, fmt.Errorf("%s: configfs-tsm %s: %w", h.platform, ConfigfsTSMReport, err)
	}
	provider := strings.TrimSpace(resp.Provider)
	want := tsmProviderSEV
	if h.platform == PlatformTDX {
		want = tsmProviderTDX
	}
	if provider != want {
		return nil, fmt.Errorf("%s: configfs-tsm provider is %q, want %q", h.platform, provider, want)
	}
	if h.platform == PlatformTDX {
		if len(resp.OutBlob) < tabi.QuoteMinSize || len(resp.OutBlob) > MaxQuoteSize {
			return nil, fmt.Errorf("tdx: configfs-tsm outblob is %d bytes, not a TD quote", len(resp.OutBlob))
		}
		return &Evidence{Version: EvidenceVersion, Platform: PlatformTDX, Device: DeviceConfigfsTSM, Report: resp.OutBlob}, nil
	}
	return snpEvidence(resp.OutBlob, resp.AuxBlob, DeviceConfigfsTSM)
}

// attestSEVGuest obtains an extended report through /dev/sev-guest.
func (h *hardware) attestSEVGuest(reportData [64]byte) (*Evidence, error) {
	path := filepath.Join(h.root, DevSEVGuest)
	d := &sevclient.LinuxDevice{}
	if err := d.Open(path); err != nil {
		return nil, fmt.Errorf("sev-snp: %s: %w", path, err)
	}
	defer d.Close()
	// go-sev-guest's QuoteProvider, which replaces this call, opens the
	// device at a path fixed by a command-line flag; Kettle opens it under
	// root, so that tests can point it elsewhere.
	//lint:ignore SA1019 the replacement cannot open a device at a given path
	raw, certs, err := sevclient.GetRawExtendedReport(d, reportData)
	if err != nil {
		return nil, fmt.Errorf("sev-snp: extended report from %s: %w", path, err)
	}
	return snpEvidence(raw, certs, DeviceSEVGuest)
}

// snpEvidence assembles SEV-SNP evidence from a report and the certificate
// table the host supplied with it. The report must be signed by a VCEK or
// VLEK whose certificate is in the table; the ASK (ASVK) and ARK, when the
// host left them out, are AMD's published ones for the report's product
// line (the verifier pins them anyway).
func snpEvidence(raw, certTable []byte, device string) (*Evidence, error) {
	if len(raw) < abi.ReportSize {
		return nil, fmt.Errorf("sev-snp: report is %d bytes, want %d", len(raw), abi.ReportSize)
	}
	raw = raw[:abi.ReportSize]
	r, err := abi.ReportToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("sev-snp: report: %w", err)
	}
	info, err := abi.ParseSignerInfo(r.GetSignerInfo())
	if err != nil {
		return nil, fmt.Errorf("sev-snp: report SIGNER_INFO: %w", err)
	}
	var table abi.CertTable
	if len(certTable) > 0 {
		if err := table.Unmarshal(certTable); err != nil {
			return nil, fmt.Errorf("sev-snp: certificate table: %w", err)
		}
	}
	get := func(guid string) []byte {
		b, err := table.GetByGUIDString(guid)
		if err != nil || len(b) == 0 {
			return nil
		}
		// Hosts may pad certificates; keep the DER.
		if c, err := x509.ParseCertificate(b); err == nil {
			return c.Raw
		}
		der, _ := parseDERPrefix(b)
		return der
	}
	certs := map[string][]byte{}
	ekName, icaName := CertVCEK, CertASK
	ekGUID := abi.VcekGUID
	if info.SigningKey == abi.VlekReportSigner {
		ekName, icaName, ekGUID = CertVLEK, CertASVK, abi.VlekGUID
	} else if info.SigningKey != abi.VcekReportSigner {
		return nil, fmt.Errorf("sev-snp: report SIGNING_KEY is %v; only VCEK- or VLEK-signed reports can be verified", info.SigningKey)
	}
	ek := get(ekGUID)
	if ek == nil {
		return nil, fmt.Errorf("sev-snp: the host supplied no %s certificate with the report (the certificate table has none): configure the host's certificate table (e.g. snphost import), or no verifier can check the report offline", strings.ToUpper(ekName))
	}
	certs[ekName] = ek
	ica, ark := get(abi.AskGUID), get(abi.ArkGUID)
	if ica == nil || ark == nil {
		fms := r.GetCpuid1EaxFms()
		if fms == 0 {
			return nil, fmt.Errorf("sev-snp: the host supplied no %s/ARK and the report (version %d) names no product", strings.ToUpper(icaName), r.GetVersion())
		}
		line := kds.ProductLine(abi.SevProductFromCpuid1Eax(fms))
		root, err := amdRoot(line)
		if err != nil {
			return nil, fmt.Errorf("sev-snp: no AMD root for product line %q: %w", line, err)
		}
		if root == nil {
			return nil, fmt.Errorf("sev-snp: no AMD root for product line %q", line)
		}
		ica, ark = root.ask.Raw, root.ark.Raw
		if info.SigningKey == abi.VlekReportSigner {
			ica = root.asvk.Raw
		}
	}
	certs[icaName], certs[CertARK] = ica, ark
	return &Evidence{Version: EvidenceVersion, Platform: PlatformSEVSNP, Device: device, Report: raw, Certificates: certs}, nil
}

// parseDERPrefix returns the DER certificate at the start of b, dropping
// padding after it.
func parseDERPrefix(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0x30 || b[1] != 0x82 {
		return nil, errors.New("not a DER certificate")
	}
	n := 4 + (int(b[2])<<8 | int(b[3]))
	if n > len(b) {
		return nil, errors.New("truncated DER certificate")
	}
	if _, err := x509.ParseCertificate(b[:n]); err != nil {
		return nil, err
	}
	return b[:n], nil
}
