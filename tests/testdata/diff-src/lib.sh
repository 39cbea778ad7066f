echo "lib, version 1"
