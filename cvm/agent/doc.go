// Package agent is the program that runs inside the Kettle CVM as PID 1.
// It mounts what it needs, loads the modules of the VM's devices, moves the
// root off the initramfs onto a tmpfs (Nix's sandbox cannot pivot_root out
// of rootfs), reads one build request and the host's input cache from the
// input disk, writes a Nix configuration whose only substituter is that
// cache with signatures required (Nix takes the flake's inputs from it),
// runs the same pipeline as kettle build, and writes the bundle — or the
// error — to the result disk. The caller then powers the VM off.
//
// The host side uses WriteInput to make the input disk and ReadResult to
// read the result disk. Both formats are versioned, size-bounded and
// strictly decoded.
package agent
