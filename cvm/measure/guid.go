package measure

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is an EFI GUID in its in-memory ("mixed-endian") byte order: the
// first three fields little-endian, the last eight bytes as written. That is
// how OVMF stores them and how Python's uuid.UUID.bytes_le lays them out.
type GUID [16]byte

// ParseGUID reads the canonical text form, e.g.
// "96b582de-1fb2-45f7-baea-a366c55a082d".
func ParseGUID(s string) (GUID, error) {
	var g GUID
	parts := strings.Split(s, "-")
	if len(s) != 36 || len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 ||
		len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return g, fmt.Errorf("GUID %q: want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		return g, fmt.Errorf("GUID %q: %w", s, err)
	}
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(g[8:], raw[8:])
	return g, nil
}

// String gives the canonical lower-case text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// The GUIDs below are functions, not variables, so that no caller can change
// them; TestGUIDConstants checks each against its text form.

// footerTableGUID is 96b582de-1fb2-45f7-baea-a366c55a082d (the footer entry that ends the table).
func footerTableGUID() GUID {
	return GUID{0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d}
}

// sevESResetBlockGUID is 00f771de-1a7e-4fcb-890e-68c77e2fb44e (SEV-ES reset block: the AP reset EIP).
func sevESResetBlockGUID() GUID {
	return GUID{0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e}
}

// sevHashTableRVGUID is 7255371f-3a3b-4b04-927b-1da6efa8d454 (SEV hash table: its GPA and size).
func sevHashTableRVGUID() GUID {
	return GUID{0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b, 0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54}
}

// sevMetadataGUID is dc886566-984a-4798-a75e-5585a7bf67cc (SEV metadata: offset of the "ASEV" header from the end).
func sevMetadataGUID() GUID {
	return GUID{0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc}
}

// tdxMetadataGUID is e47a6535-984a-4798-865e-4685a7bf8ec2 (TDX metadata: offset of the "TDVF" descriptor from the end).
func tdxMetadataGUID() GUID {
	return GUID{0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47, 0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2}
}

// sevHashTableHeaderGUID is 9438d606-4f22-4cc9-b479-a793d411fd21 (SEV hashes table header).
func sevHashTableHeaderGUID() GUID {
	return GUID{0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c, 0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21}
}

// sevCmdlineEntryGUID is 97d02dd8-bd20-4c94-aa78-e7714d36ab2a (SEV hashes table: command line entry).
func sevCmdlineEntryGUID() GUID {
	return GUID{0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c, 0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a}
}

// sevInitrdEntryGUID is 44baf731-3a2f-4bd7-9af1-41e29169781d (SEV hashes table: initrd entry).
func sevInitrdEntryGUID() GUID {
	return GUID{0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b, 0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d}
}

// sevKernelEntryGUID is 4de79437-abd2-427f-b835-d5b172d2045b (SEV hashes table: kernel entry).
func sevKernelEntryGUID() GUID {
	return GUID{0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42, 0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b}
}
