{
  description = "Kettle rebuild test: an output that holds the time it was built, so no two builds agree";

  inputs.busybox = {
    url = "path:/bin/busybox";
    flake = false;
  };

  outputs = { self, busybox }:
    let
      system = "x86_64-linux";

      # A file literally named busybox, as in examples/hello.
      bb = derivation {
        name = "busybox-bin";
        inherit system;
        builder = "builtin:unpack-channel";
        channelName = "bin";
        src = builtins.toFile "busybox.mtree" ''
          #mtree
          ./bin type=dir mode=0555
          ./bin/busybox type=link link=${busybox}
        '';
      };

      # share/stable.txt is the same on every build; share/stamp.txt holds
      # the second the build ran and 8 random bytes, so that two builds in
      # the same second differ too.
      stamped = derivation {
        name = "stamped";
        inherit system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-eu" "-c" ''
          busybox mkdir -p $out/share
          echo 'always the same' > $out/share/stable.txt
          { busybox date +%s; busybox head -c 8 /dev/urandom | busybox od -An -tx1; } > $out/share/stamp.txt
        '' ];
        PATH = "${bb}/bin";
      };
    in
    {
      packages.${system}.default = stamped;
    };
}
