# The CVM image's inputs from real nixpkgs (flake.nix, packages.cvm-image).
# NOT BUILT on the machines this project is tested on (they cannot fetch
# nixpkgs): the offline stand-in's Debian kernel, OVMF and nix-bin are what
# the tests build. Written against nixos-25.05. What an attesting guest needs:
#   - a kernel with the SEV-SNP and TDX guest drivers, configfs-tsm, and
#     virtio built in (so no module is needed for the disks);
#   - OVMF's AmdSev build, whose SEV kernel-hashes table lets the SEV-SNP
#     launch digest cover the kernel, initrd and command line;
#   - a static Nix and busybox.
pkgs:
let
  inherit (pkgs) lib;
  # Each option forced, as these must be built in whatever nixpkgs' common
  # kernel config says: it builds SEV_GUEST and TDX_GUEST_DRIVER as modules
  # on x86_64, and a plain `yes` beside its `module` is a conflicting
  # definition.
  kernel = pkgs.linux_6_12.override {
    structuredExtraConfig = lib.mapAttrs (_: lib.mkForce) (with lib.kernel; {
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
    });
  };
  # edk2's OvmfPkg/AmdSev/AmdSevX64.dsc, built with edk2's own builder:
  # nixpkgs' OVMF package installs the OVMF_CODE/OVMF_VARS pair, which this
  # build does not make. It makes one stateless image, $out/FV/OVMF.fd (the
  # .fdf's FD.OVMF). The build embeds a GRUB (OvmfPkg/AmdSev/Grub) for
  # booting from an encrypted disk; this image boots its kernel directly, so
  # the GRUB is an empty file, as Debian's OVMF.amdsev.fd has it.
  ovmf = pkgs.edk2.mkDerivation "OvmfPkg/AmdSev/AmdSevX64.dsc" {
    pname = "OVMF-AmdSev";
    inherit (pkgs.edk2) version;
    nativeBuildInputs = with pkgs; [ util-linux nasm acpica-tools ];
    hardeningDisable = [ "format" "stackprotector" "pic" "fortify" ];
    postPatch = ''
      touch OvmfPkg/AmdSev/Grub/grub.efi
    '';
  };
in
{
  busybox = pkgs.pkgsStatic.busybox;
  nix = pkgs.pkgsStatic.nix;
  linux = kernel // { modDirVersion = kernel.modDirVersion; };
  firmware = "${ovmf}/FV/OVMF.fd";
}
