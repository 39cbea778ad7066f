{
  description = "Kettle example: an offline flake built with a static busybox (no nixpkgs)";

  # The only input is Debian's static busybox (package busybox-static), locked by
  # its NAR hash in flake.lock like any other flake input.
  inputs.busybox = {
    url = "path:/bin/busybox";
    flake = false;
  };

  outputs = { self, busybox }:
    let
      system = "x86_64-linux";

      # Busybox picks its applet from argv[0], so it must be run through a file
      # literally named "busybox". builtin:unpack-channel unpacks a text (mtree)
      # archive into $out/bin/busybox -> the locked input, without any shell.
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

      sh = script: deps: derivation ({
        inherit system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-eu" "-c" script ];
        PATH = "${bb}/bin";
      } // deps);

      # A fixed-output derivation: its content is pinned by hash, as a fetcher's would be.
      greeting = derivation {
        name = "greeting.txt";
        inherit system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-c" "echo 'Hello from an attested Kettle build' > $out" ];
        outputHashMode = "flat";
        outputHashAlgo = "sha256";
        outputHash = "sha256-nUYOzBShWeyoRzOE3mC1hdIKEDYapkm8hU81cFNMyVE=";
      };

      hello = sh ''
        busybox mkdir -p $out/bin $out/share
        busybox cp ${greeting} $out/share/greeting.txt
        busybox cp ${./hello.sh} $out/bin/hello.sh
        busybox sed "s|@busybox@|${bb}/bin/busybox|; s|@out@|$out|" $out/bin/hello.sh > $out/bin/hello
        busybox rm $out/bin/hello.sh
        busybox chmod 0555 $out/bin/hello
      '' { name = "hello"; };
    in
    {
      packages.${system} = {
        default = hello;
        inherit hello greeting;
      };
    };
}
