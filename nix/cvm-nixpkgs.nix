# The CVM image's inputs from real nixpkgs (flake.nix, packages.cvm-image).
# NOT BUILT on the machines this project is tested on (they cannot fetch
# nixpkgs): the offline stand-in's Debian kernel, OVMF and nix-bin are what
# the tests build. What an attesting guest needs:
#   - a kernel with the SEV-SNP and TDX guest drivers, configfs-tsm, and
#     virtio built in (so no module is needed for the disks);
#   - OVMF's AmdSev build, whose SEV kernel-hashes table lets the SEV-SNP
#     launch digest cover the kernel, initrd and command line;
#   - a static Nix and busybox.
pkgs:
let
  inherit (pkgs) lib;
  kernel = pkgs.linux_6_12.override {
    structuredExtraConfig = with lib.kernel; {
      AMD_MEM_ENCRYPT = yes;
      SEV_GUEST = yes;
      INTEL_TDX_GUEST = yes;
      TDX_GUEST_DRIVER = yes;
      TSM_REPORTS = yes;
      VIRTIO = yes;
      VIRTIO_PCI = yes;
      VIRTIO_BLK = yes;
      VIRTIO_CONSOLE = yes;
      RD_ZSTD = yes;
    };
  };
  ovmf = pkgs.OVMF.override { projectDscPath = "OvmfPkg/AmdSev/AmdSevX64.dsc"; fwPrefix = "AMDSEV"; };
in
{
  busybox = pkgs.pkgsStatic.busybox;
  nix = pkgs.pkgsStatic.nix;
  linux = kernel // { modDirVersion = kernel.modDirVersion; };
  firmware = "${ovmf.fd}/FV/AMDSEV.fd";
}
