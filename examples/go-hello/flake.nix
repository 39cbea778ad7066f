{
  description = "Kettle example: a real Go program built offline with the host Go toolchain (no nixpkgs)";

  # Both inputs are local paths, locked by NAR hash in flake.lock:
  # Debian's static busybox and the Go toolchain installed at /usr/local/go.
  inputs = {
    busybox = { url = "path:/bin/busybox"; flake = false; };
    go = { url = "path:/usr/local/go"; flake = false; };
  };

  outputs = { self, busybox, go }:
    let
      system = "x86_64-linux";

      # See examples/hello: busybox must run through a file named "busybox".
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

      hello = derivation {
        name = "kettle-go-hello";
        inherit system;
        builder = "${bb}/bin/busybox";
        src = ./app;
        args = [ "sh" "-eu" "-c" ''
          export PATH=${bb}/bin HOME=$TMPDIR GOCACHE=$TMPDIR/gocache GOPATH=$TMPDIR/gopath
          export GOROOT=${go} GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0
          busybox cp -r $src $TMPDIR/app
          busybox chmod -R u+w $TMPDIR/app
          cd $TMPDIR/app
          ${go}/bin/go build -trimpath -buildvcs=false -ldflags=-buildid= -o $out/bin/kettle-go-hello .
        '' ];
      };
    in
    {
      packages.${system} = {
        default = hello;
        inherit hello;
      };
    };
}
