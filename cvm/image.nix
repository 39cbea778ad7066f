# The Kettle CVM image: kernel, initrd, firmware, kernel command line, and
# the launch measurements of every VM shape, computed in the same
# derivation. A pure function of its inputs; both the nixpkgs variant and
# the offline stand-in (nix/stand-in) call it.
#
#   $out/bzImage           the kernel
#   $out/initrd            written by `kettle initrd` (sorted cpio newc,
#                          fixed metadata, not compressed)
#   $out/vmlinux           bzImage's kernel uncompressed, for plain VMs (PVH)
#   $out/OVMF.fd           the firmware
#   $out/cmdline           the kernel command line
#   $out/measurement.json  `kettle image measure` over the four above
#   $out/image.json        every input by store path and SHA-256
#
# The initrd holds the agent (a static kettle, /init), Nix and the
# libraries it links against, a static busybox, the kernel modules of the
# VM's devices, and nothing of the build host.
{
  lib,
  system,
  busybox, # bin/busybox, static
  kettle, # bin/kettle, static
  nix, # bin/nix and its libraries under lib/ (with the dynamic loader)
  linux, # bzImage and lib/modules/<modDirVersion>
  firmware, # the OVMF.fd file
  cmdline ? "console=ttyS0 panic=-1 quiet",
  name ? "kettle-cvm-image",
}:

let
  modDir = "lib/modules/${linux.modDirVersion}";

  # The modules of the VM's devices, in load order (modules.dep): virtio
  # over PCI, virtio-blk for the input and result disks, and the SEV-SNP
  # guest driver for attestation.
  modules = [
    "kernel/drivers/virtio/virtio_ring.ko"
    "kernel/drivers/virtio/virtio.ko"
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko"
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko"
    "kernel/drivers/virtio/virtio_pci.ko"
    "kernel/drivers/block/virtio_blk.ko"
    "kernel/drivers/virt/coco/sev-guest/sev-guest.ko"
  ];

  init = builtins.toFile "init" ''
    #!/bin/busybox sh
    exec /bin/kettle agent
  '';
  # root, and the build users Nix runs sandboxed builds as.
  buildUsers = map (i: "nixbld${toString i}") (lib.range 1 4);
  passwd = builtins.toFile "passwd" (
    "root:x:0:0:root:/root:/bin/sh\n"
    + lib.concatImapStrings (i: u: "${u}:x:${toString (30000 + i)}:30000:Nix build user:/var/empty:/bin/false\n") buildUsers
  );
  group = builtins.toFile "group" "root:x:0:\nnixbld:x:30000:${lib.concatStringsSep "," buildUsers}\n";

  # The fixed part of the initrd, one `kettle initrd` entry per line; the
  # builder adds Nix's libraries and the modules.
  spec = ''
    dir /bin
    dir /dev
    dir /etc
    dir /etc/kettle
    dir /etc/nix
    dir /lib64
    dir /nix
    dir /nix/store
    dir /proc
    dir /root 0700
    dir /run
    dir /sys
    dir /tmp 01777
    dir /usr
    dir /usr/bin
    dir /usr/lib
    dir /usr/lib/nix
    dir /usr/libexec
    dir /usr/libexec/nix
    dir /lib
    dir /lib/x86_64-linux-gnu
    chardev /dev/console 5 1 0600
    file /init ${init} 0755
    file /bin/busybox ${busybox}/bin/busybox 0755
    symlink /bin/sh busybox
    file /bin/kettle ${kettle}/bin/kettle 0755
    file /usr/bin/nix ${nix}/bin/nix 0755
    symlink /usr/libexec/nix/build-remote /usr/bin/nix
    file /etc/passwd ${passwd} 0644
    file /etc/group ${group} 0644
  '';
in
derivation {
  inherit name system;
  builder = "${busybox}/bin/sh";
  PATH = "${busybox}/bin:${kettle}/bin";
  inherit cmdline spec;
  args = [
    "-eu"
    "-c"
    ''
      mkdir -p $out
      printf '%s' "$spec" > spec
      # Nix's own libraries go where its RUNPATH points, the rest where
      # the loader looks by default.
      # A static nix has no lib/.
      for f in $(ls -d ${nix}/lib/* 2>/dev/null); do
        n=$(basename $f)
        case $n in
          ld-linux-x86-64.so.2) echo "file /lib64/$n $f 0755" >> spec ;;
          libnix*) echo "file /usr/lib/nix/$n $f 0755" >> spec ;;
          *) echo "file /lib/x86_64-linux-gnu/$n $f 0755" >> spec ;;
        esac
      done
      # The modules this kernel has (a kernel with the drivers built in
      # has none of them), and the list the agent loads in order.
      : > modules
      for m in ${lib.concatStringsSep " " modules}; do
        if [ -e ${linux}/${modDir}/$m ]; then
          echo "file /${modDir}/$m ${linux}/${modDir}/$m 0644" >> spec
          echo "/${modDir}/$m" >> modules
        fi
      done
      echo "file /etc/kettle/modules $PWD/modules 0644" >> spec
      # kettle initrd creates the parent directories not given. Not
      # compressed: under software emulation the kernel's unpacking of a
      # compressed initrd costs seconds, a copy almost nothing.
      kettle initrd -o $out/initrd --compress none --spec spec
      cp ${linux}/bzImage $out/bzImage
      # The same kernel uncompressed, which QEMU boots through its PVH
      # entry point in a plain VM (a confidential VM boots bzImage).
      kettle image vmlinux -o $out/vmlinux $out/bzImage
      cp ${firmware} $out/OVMF.fd
      printf '%s' "$cmdline" > $out/cmdline
      kettle image measure --firmware $out/OVMF.fd --kernel $out/bzImage --initrd $out/initrd \
        --append "$cmdline" -o $out/measurement.json
      sum() { sha256sum "$1" | cut -d' ' -f1; }
      cat > $out/image.json <<EOF
      {
        "version": 1,
        "cmdline": "$cmdline",
        "files": {
          "kernel": {"file": "bzImage", "sha256": "$(sum $out/bzImage)", "from": "${linux}"},
          "initrd": {"file": "initrd", "sha256": "$(sum $out/initrd)"},
          "firmware": {"file": "OVMF.fd", "sha256": "$(sum $out/OVMF.fd)", "from": "${firmware}"}
        },
        "inputs": {
          "kettle": {"storePath": "${kettle}", "narSha256": "$(kettle hash --hex ${kettle})"},
          "nix": {"storePath": "${nix}", "narSha256": "$(kettle hash --hex ${nix})"},
          "busybox": {"storePath": "${busybox}", "narSha256": "$(kettle hash --hex ${busybox})"},
          "linux": {"storePath": "${linux}", "narSha256": "$(kettle hash --hex ${linux})"},
          "firmware": {"file": "${firmware}", "sha256": "$(sum ${firmware})"}
        }
      }
      EOF
    ''
  ];
}
