#!@busybox@ sh
# Prints the greeting that the build pinned by hash.
exec @busybox@ cat @out@/share/greeting.txt
