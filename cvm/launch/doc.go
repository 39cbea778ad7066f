// Package launch starts the Kettle CVM under QEMU.
//
// A VM describes one launch: platform (a plain VM under TCG, AMD SEV-SNP or
// Intel TDX), vCPUs, memory, CPU type, firmware, kernel, initrd, kernel
// command line, the requester's nonce, and the virtio transport devices
// (serial ports, vsock, disks) between the host and the agent inside. VM.Args
// turns it into QEMU's command line; CheckVersion tells whether a QEMU is new
// enough for the platform (SEV-SNP needs 9.1, TDX 10.1).
//
// A Runner starts QEMU in its own process group, always with a timeout,
// keeps the end of the serial console, and reports how QEMU ended. Before a
// SEV-SNP or TDX launch it asks its Measurements for the digest of the VM's
// shape and refuses a shape that has none.
package launch
