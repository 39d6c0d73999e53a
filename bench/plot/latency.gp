# latency.gp - BenchFS ping round trip vs ucx_perftest round trips
# (2 x its one-way figure). Variables: datafile, outfile. Columns: "name"
# p50_us p99_us (p99 only for BenchFS).
set output outfile
set title "Round-trip latency, p50 (log scale; BenchFS target: <= 2x am_lat)" noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set logscale y
set ylabel "microseconds"
set xtics rotate by -20
set grid ytics
set key top left
plot datafile using 2:xtic(1) title "p50", '' using 3 title "p99 (BenchFS)"
