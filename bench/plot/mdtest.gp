# mdtest.gp - metadata rates, 1 server + 1 client (bench/run_all.sh).
# Variables: datafile, outfile. Columns: "phase" shm_benchfs shm_local
# tcp_benchfs disk_benchfs disk_local (ops/s).
set output outfile
set title "Metadata operations per second, 1 server + 1 client (log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set logscale y
set yrange [100:*]
set ylabel "ops/s"
set grid ytics
set key top right
plot datafile using 2:xtic(1) title "BenchFS shm, tmpfs", \
     ''       using 3 title "local POSIX, tmpfs", \
     ''       using 4 title "BenchFS tcp, tmpfs", \
     ''       using 5 title "BenchFS shm, disk", \
     ''       using 6 title "local POSIX, disk"
