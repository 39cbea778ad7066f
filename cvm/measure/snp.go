package measure

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
)

// PageType is the PAGE_TYPE of an SNP_LAUNCH_UPDATE page.
type PageType uint8

// Page types (SEV-SNP firmware ABI, table "PAGE_TYPE field encodings").
const (
	PageNormal     PageType = 1 // contents measured
	PageVMSA       PageType = 2 // a vCPU's save area, contents measured
	PageZero       PageType = 3 // zeroed by the firmware, not hashed
	PageUnmeasured PageType = 4
	PageSecrets    PageType = 5
	PageCPUID      PageType = 6
)

// pageInfoSize is the size of PAGE_INFO: the digest so far, the page's
// contents digest, then length, type, IMI and VMPL permissions, and GPA.
const pageInfoSize = 0x70

// LaunchDigest is the running SEV-SNP launch digest. Each page the VMM hands
// to SNP_LAUNCH_UPDATE replaces it with SHA-384 of a PAGE_INFO holding the
// digest so far, SHA-384 of the page for NORMAL and VMSA pages (zeros for the
// others), the page type and its GPA.
type LaunchDigest struct {
	info [pageInfoSize]byte // info[0:48] is the digest so far
}

// NewLaunchDigest starts a digest from seed: zeros for a whole launch, or
// the OVMFHash of the firmware to skip measuring its pages again.
func NewLaunchDigest(seed [48]byte) *LaunchDigest {
	d := &LaunchDigest{}
	copy(d.info[:48], seed[:])
	binary.LittleEndian.PutUint16(d.info[0x60:], pageInfoSize)
	return d
}

// Sum returns the digest so far.
func (d *LaunchDigest) Sum() [48]byte {
	var s [48]byte
	copy(s[:], d.info[:48])
	return s
}

// update extends the digest with one page. Bytes 0x63..0x67 (IMI_PAGE,
// VMPL3..1 permissions, reserved) stay zero.
func (d *LaunchDigest) update(t PageType, gpa uint64, contents *[48]byte) {
	copy(d.info[48:96], contents[:])
	d.info[0x62] = byte(t)
	binary.LittleEndian.PutUint64(d.info[0x68:], gpa)
	s := sha512.Sum384(d.info[:])
	copy(d.info[:48], s[:])
}

// UpdateNormalPages measures data as NORMAL pages from gpa up. The page
// hashes are independent, so they are computed in parallel; only the chain
// itself is sequential.
func (d *LaunchDigest) UpdateNormalPages(gpa uint64, data []byte) error {
	if len(data)%pageSize != 0 {
		return fmt.Errorf("measuring %d bytes at gpa %#x: not a whole number of 4 KiB pages", len(data), gpa)
	}
	for i, h := range pageDigests(data) {
		d.update(PageNormal, gpa+uint64(i)*pageSize, &h)
	}
	return nil
}

// UpdateVMSA measures one vCPU's save area.
func (d *LaunchDigest) UpdateVMSA(page *[pageSize]byte) {
	h := sha512.Sum384(page[:])
	d.update(PageVMSA, vmsaGPA, &h)
}

// UpdateEmpty measures size bytes from gpa as pages of type t whose contents
// are not hashed (ZERO, UNMEASURED, SECRETS, CPUID).
func (d *LaunchDigest) UpdateEmpty(t PageType, gpa uint64, size uint64) {
	var zero [48]byte
	for off := uint64(0); off < size; off += pageSize {
		d.update(t, gpa+off, &zero)
	}
}

// minPagesPerWorker keeps goroutines for large inputs only.
const minPagesPerWorker = 64

// pageDigests hashes every 4 KiB page of data with SHA-384, on as many
// goroutines as GOMAXPROCS allows.
func pageDigests(data []byte) [][48]byte {
	n := len(data) / pageSize
	out := make([][48]byte, n)
	workers := min(runtime.GOMAXPROCS(0), n/minPagesPerWorker)
	if workers <= 1 {
		for i := range out {
			out[i] = sha512.Sum384(data[i*pageSize : (i+1)*pageSize])
		}
		return out
	}
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		hi := min(n, lo+per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = sha512.Sum384(data[i*pageSize : (i+1)*pageSize])
			}
		}()
	}
	wg.Wait()
	return out
}

// firmwareGPA is where the VMM maps a firmware image: its end at 4 GiB.
func firmwareGPA(fw []byte) (uint64, error) {
	if len(fw) == 0 {
		return 0, fmt.Errorf("firmware image is empty")
	}
	if len(fw)%pageSize != 0 {
		return 0, fmt.Errorf("firmware image is %d bytes, not a whole number of 4 KiB pages", len(fw))
	}
	if len(fw) > fourGiB {
		return 0, fmt.Errorf("firmware image is %d bytes, more than the 4 GiB below which it is mapped", len(fw))
	}
	return fourGiB - uint64(len(fw)), nil
}

// OVMFHash is the launch digest after the firmware alone: its pages measured
// as NORMAL pages ending at 4 GiB, from a zero seed (sev-snp-measure's
// "snp:ovmf-hash" mode). Seeding SNPLaunchDigest with it gives the same
// digest as measuring the firmware, so a verifier can keep 48 bytes and the
// SNPLayout instead of the image.
func OVMFHash(fw []byte) ([48]byte, error) {
	gpa, err := firmwareGPA(fw)
	if err != nil {
		return [48]byte{}, err
	}
	d := NewLaunchDigest([48]byte{})
	if err := d.UpdateNormalPages(gpa, fw); err != nil {
		return [48]byte{}, err
	}
	return d.Sum(), nil
}

// SNPLayout is what, besides its bytes, the SNP launch digest needs of the
// firmware: the pages the VMM adds after it, and where the vCPUs start.
type SNPLayout struct {
	// ResetEIP is where application processors start (the SEV-ES reset block).
	ResetEIP uint32 `json:"resetEIP"`
	// HashesTableGPA and HashesTableSize locate the SEV hashes table; the GPA
	// is 0 in builds that cannot measure a direct kernel boot.
	HashesTableGPA  uint32 `json:"hashesTableGPA"`
	HashesTableSize uint32 `json:"hashesTableSize"`
	// Sections are the SEV metadata sections, in table order.
	Sections []SEVSection `json:"sections"`
}

// ParseSNPLayout reads the SNPLayout of an OVMF image: its footer table, the
// SEV-ES reset block, the SEV hash table entry (optional) and the SEV
// metadata. Each missing piece is an error wrapping ErrNoFooterTable,
// ErrNoResetBlock or ErrNoSEVMetadata.
func ParseSNPLayout(fw []byte) (SNPLayout, error) {
	var l SNPLayout
	t, err := ParseFooterTable(fw)
	if err != nil {
		return l, err
	}
	if l.ResetEIP, err = resetEIP(t); err != nil {
		return l, err
	}
	v, ok, err := t.u32s(sevHashTableRVGUID(), "SEV hash table", 2)
	if err != nil {
		return l, err
	}
	if ok {
		l.HashesTableGPA, l.HashesTableSize = v[0], v[1]
	}
	if l.Sections, err = ParseSEVMetadata(fw, t); err != nil {
		return l, err
	}
	return l, nil
}

func resetEIP(t *FooterTable) (uint32, error) {
	v, ok, err := t.u32s(sevESResetBlockGUID(), "SEV-ES reset block", 1)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: the OVMF footer table has no SEV-ES reset block entry (GUID %s) giving where APs start", ErrNoResetBlock, sevESResetBlockGUID())
	}
	return v[0], nil
}

// MaxVCPUs is the largest vCPU count accepted (QEMU's limit for SEV guests).
const MaxVCPUs = 512

// DefaultGuestFeatures is SEV_FEATURES with only SNPActive set, the VMSA of
// host kernels 6.8 and later and sev-snp-measure's default since v0.0.10.
// Kernels 6.6 and 6.7 also set DebugSwap: 0x21.
const DefaultGuestFeatures = 0x1

// SNPOptions is the VM shape and boot configuration of an SNP launch.
type SNPOptions struct {
	// VCPUs is the number of vCPUs, 1..MaxVCPUs.
	VCPUs int
	// VCPUSig is the CPUID signature of the vCPU model (QEMU only; see
	// VCPUSignature and CPUSignature).
	VCPUSig uint32
	// VMM is the hypervisor.
	VMM VMMType
	// GuestFeatures is the VMSA's SEV_FEATURES (DefaultGuestFeatures).
	GuestFeatures uint64
	// Kernel holds the hashes of a direct kernel boot, nil for none (then
	// the SNP_KERNEL_HASHES page is measured as ZERO).
	Kernel *SEVHashes
}

func (o SNPOptions) check() error {
	if o.VCPUs < 1 || o.VCPUs > MaxVCPUs {
		return fmt.Errorf("%w: %d vCPUs, want 1..%d", ErrVCPUCount, o.VCPUs, MaxVCPUs)
	}
	if o.VMM < VMMQEMU || o.VMM > VMMGCE {
		return fmt.Errorf("unknown VMM type %d", int(o.VMM))
	}
	return nil
}

// SNPLaunchDigest computes the SEV-SNP launch digest from the firmware's
// OVMFHash and SNPLayout: after the firmware pages, each SEV metadata
// section in table order (SNP_SEC_MEM as ZERO pages, UNMEASURED on GCE; the
// SECRETS page; the CPUID page, which EC2 adds after all other sections;
// SVSM_CAA as ZERO pages; SNP_KERNEL_HASHES as a NORMAL page holding the SEV
// hashes table, or ZERO without a kernel), then one VMSA per vCPU.
func SNPLaunchDigest(ovmfHash [48]byte, l SNPLayout, o SNPOptions) ([48]byte, error) {
	if err := o.check(); err != nil {
		return [48]byte{}, err
	}
	if err := checkSEVSections(l.Sections); err != nil {
		return [48]byte{}, err
	}
	if o.VCPUs > 1 && l.ResetEIP == 0 {
		return [48]byte{}, fmt.Errorf("%w: the SEV-ES reset block gives AP reset address 0, so only 1 vCPU can start (asked for %d)", ErrNoResetBlock, o.VCPUs)
	}
	d := NewLaunchDigest(ovmfHash)
	var hashesPage []byte
	hasHashesSection := false
	for i, s := range l.Sections {
		gpa, size := uint64(s.GPA), uint64(s.Size)
		switch s.Type {
		case SEVSectionSNPSecMem:
			if o.VMM == VMMGCE {
				d.UpdateEmpty(PageUnmeasured, gpa, size)
			} else {
				d.UpdateEmpty(PageZero, gpa, size)
			}
		case SEVSectionSNPSecrets:
			d.UpdateEmpty(PageSecrets, gpa, pageSize)
		case SEVSectionCPUID:
			if o.VMM != VMMEC2 {
				d.UpdateEmpty(PageCPUID, gpa, pageSize)
			}
		case SEVSectionSVSMCAA:
			d.UpdateEmpty(PageZero, gpa, size)
		case SEVSectionSNPKernelHashes:
			hasHashesSection = true
			if o.Kernel == nil {
				d.UpdateEmpty(PageZero, gpa, size)
				continue
			}
			if size != pageSize {
				return [48]byte{}, fmt.Errorf("SEV metadata section %d (SNP_KERNEL_HASHES): size %#x, want one 4 KiB page for the hashes table", i, size)
			}
			if hashesPage == nil {
				if l.HashesTableGPA == 0 {
					return [48]byte{}, fmt.Errorf("%w: kernel specified but the OVMF footer table gives no SEV hash table GPA (GUID %s)", ErrNoKernelHashes, sevHashTableRVGUID())
				}
				p, err := o.Kernel.page(l.HashesTableGPA % pageSize)
				if err != nil {
					return [48]byte{}, err
				}
				hashesPage = p
			}
			if err := d.UpdateNormalPages(gpa, hashesPage); err != nil {
				return [48]byte{}, err
			}
		}
	}
	if o.VMM == VMMEC2 {
		for _, s := range l.Sections {
			if s.Type == SEVSectionCPUID {
				d.UpdateEmpty(PageCPUID, uint64(s.GPA), pageSize)
			}
		}
	}
	if o.Kernel != nil && !hasHashesSection {
		return [48]byte{}, fmt.Errorf("%w: Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section", ErrNoKernelHashes)
	}
	d.UpdateVMSA(VMSA(bspEIP, o.VMM, o.VCPUSig, o.GuestFeatures))
	if o.VCPUs > 1 {
		ap := VMSA(l.ResetEIP, o.VMM, o.VCPUSig, o.GuestFeatures)
		for range o.VCPUs - 1 {
			d.UpdateVMSA(ap)
		}
	}
	return d.Sum(), nil
}

// MeasureSNP computes the SEV-SNP launch digest of a firmware image with
// the given options: OVMFHash, ParseSNPLayout and SNPLaunchDigest in one.
func MeasureSNP(fw []byte, o SNPOptions) ([48]byte, error) {
	if err := o.check(); err != nil {
		return [48]byte{}, err
	}
	l, err := ParseSNPLayout(fw)
	if err != nil {
		return [48]byte{}, err
	}
	h, err := OVMFHash(fw)
	if err != nil {
		return [48]byte{}, err
	}
	return SNPLaunchDigest(h, l, o)
}

// SEVLaunchDigest is the legacy SEV launch digest: SHA-256 of the firmware
// and, for a direct kernel boot, of the padded SEV hashes table.
func SEVLaunchDigest(fw []byte, kernel *SEVHashes) ([32]byte, error) {
	h := sha256.New()
	h.Write(fw)
	if kernel != nil {
		if err := checkSEVHashesSupport(fw); err != nil {
			return [32]byte{}, err
		}
		t := kernel.Table()
		h.Write(t[:])
	}
	var s [32]byte
	h.Sum(s[:0])
	return s, nil
}

// SEVESLaunchDigest is the SEV-ES launch digest: SEVLaunchDigest's stream
// followed by one VMSA per vCPU, with SEV_FEATURES 0 (o.GuestFeatures is
// not used).
func SEVESLaunchDigest(fw []byte, o SNPOptions) ([32]byte, error) {
	if err := o.check(); err != nil {
		return [32]byte{}, err
	}
	t, err := ParseFooterTable(fw)
	if err != nil {
		return [32]byte{}, err
	}
	eip, err := resetEIP(t)
	if err != nil {
		return [32]byte{}, err
	}
	if o.VCPUs > 1 && eip == 0 {
		return [32]byte{}, fmt.Errorf("%w: the SEV-ES reset block gives AP reset address 0, so only 1 vCPU can start (asked for %d)", ErrNoResetBlock, o.VCPUs)
	}
	h := sha256.New()
	h.Write(fw)
	if o.Kernel != nil {
		if err := checkSEVHashesSupport(fw); err != nil {
			return [32]byte{}, err
		}
		tb := o.Kernel.Table()
		h.Write(tb[:])
	}
	h.Write(VMSA(bspEIP, o.VMM, o.VCPUSig, 0)[:])
	if o.VCPUs > 1 {
		ap := VMSA(eip, o.VMM, o.VCPUSig, 0)
		for range o.VCPUs - 1 {
			h.Write(ap[:])
		}
	}
	var s [32]byte
	h.Sum(s[:0])
	return s, nil
}

// checkSEVHashesSupport requires an SEV hash table entry with a GPA, as
// QEMU does before it writes the table for SEV and SEV-ES.
func checkSEVHashesSupport(fw []byte) error {
	t, err := ParseFooterTable(fw)
	if err != nil {
		return fmt.Errorf("%w: Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement (%v)", ErrNoKernelHashes, err)
	}
	v, ok, err := t.u32s(sevHashTableRVGUID(), "SEV hash table", 1)
	if err != nil {
		return err
	}
	if !ok || v[0] == 0 {
		return fmt.Errorf("%w: Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement", ErrNoKernelHashes)
	}
	return nil
}
