{
  description = "Kettle rebuild test: a chain a -> b -> c in which only b is unreproducible";

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

      # a: reproducible, below b.
      a = sh "chain-a" ''
        busybox mkdir -p $out
        echo 'a: the bottom of the chain' > $out/a.txt
      '';

      # b: takes a, and adds 16 random bytes: no two builds agree.
      b = sh "chain-b" ''
        busybox mkdir -p $out
        busybox cp ${a}/a.txt $out/a.txt
        busybox head -c 16 /dev/urandom > $out/random.bin
      '';

      # c: reproducible given its input; it keeps b's files.
      c = sh "chain-c" ''
        busybox mkdir -p $out
        busybox cp ${b}/a.txt ${b}/random.bin $out/
        echo 'c: the top of the chain' > $out/c.txt
      '';
    in
    {
      packages.${system} = {
        default = c;
        inherit a b c;
      };
    };
}
