{
  description = "Kettle test flake for `kettle diff`: lib.sh is a source of lib, which app uses; other does not use it";

  inputs.busybox = {
    url = "path:/bin/busybox";
    flake = false;
  };

  outputs = { self, busybox }:
    let
      system = "x86_64-linux";

      # As in examples/hello: busybox must run through a file named "busybox".
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

      # A fixed-output derivation, as a fetcher's would be.
      data = derivation {
        name = "diff-data.txt";
        inherit system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-c" "echo 'Hello from an attested Kettle build' > $out" ];
        outputHashMode = "flat";
        outputHashAlgo = "sha256";
        outputHash = "sha256-nUYOzBShWeyoRzOE3mC1hdIKEDYapkm8hU81cFNMyVE=";
      };

      lib = sh "diff-lib" "busybox cp ${./lib.sh} $out";
      app = sh "diff-app" "busybox cat ${lib} ${data} > $out";
      other = sh "diff-other" "busybox cp ${./other.txt} $out";
      top = sh "diff-top" "busybox mkdir $out; busybox cp ${app} $out/app; busybox cp ${other} $out/other";
    in
    {
      packages.${system}.default = top;
    };
}
