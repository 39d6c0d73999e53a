# ior_ratio.gp - BenchFS / local POSIX bandwidth ratio per configuration
# (bench/run_all.sh). Variables: datafile, outfile; the terminal is set by
# the caller. Columns: "config" fpp_write fpp_read shared_write shared_read.
set output outfile
set title "IOR-like bandwidth: BenchFS / local POSIX on the same storage (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set yrange [0:1.1<*]
set ylabel "ratio"
set xtics rotate by -25 noenhanced
set key outside top center horizontal
set grid ytics
set arrow 1 from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lc rgb "#2a7f2a"
set arrow 2 from graph 0, first 0.8 to graph 1, first 0.8 nohead dt 3 lc rgb "#b05000"
set label 1 "fpp target 0.9" at graph 0.01, first 0.93 textcolor rgb "#2a7f2a"
set label 2 "shared target 0.8" at graph 0.01, first 0.74 textcolor rgb "#b05000"
plot datafile using 2:xtic(1) title "fpp 1 MiB write", \
     ''       using 3 title "fpp 1 MiB read", \
     ''       using 4 title "shared 47008 B write", \
     ''       using 5 title "shared 47008 B read"
