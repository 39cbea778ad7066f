{
  description = "Kettle test flake for `kettle diff`: base -> noisy -> consumer, where noisy writes random bytes, so that two builds of it differ";

  inputs.busybox = {
    url = "path:/bin/busybox";
    flake = false;
  };

  outputs = { self, busybox }:
    let
      system = "x86_64-linux";

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

      sh = name: script: derivation {
        inherit name system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-eu" "-c" script ];
        PATH = "${bb}/bin";
      };

      # The names sort against the order of the chain (consumer < noisy), so
      # that only the dependencies can put noisy first.
      base = sh "diff-unrepro-base" "echo 'the same every time' > $out";
      noisy = sh "diff-unrepro-noisy" "busybox cat ${base} > $out; busybox head -c 32 /dev/urandom | busybox od -A n -t x1 >> $out; busybox date +%s%N >> $out";
      consumer = sh "diff-unrepro-consumer" "busybox cat ${noisy} > $out";
    in
    {
      packages.${system}.default = consumer;
    };
}
