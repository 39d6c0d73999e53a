# table.gp - issue 17's table as bars (bench/table.sh): per phase, BenchFS /
# local POSIX with 1 server + 1 client, its goal, and the co-located
# 2 servers + 2 clients rate as a ratio to 1+1. Variables: datafile, outfile;
# the terminal is set by the caller. Columns: phase ratio goal colocated_ratio.
set output outfile
set title "BenchFS per IO500 phase (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set yrange [0:1.2<*]
set ylabel "ratio"
set xtics rotate by -30 noenhanced
set key outside top center horizontal
set grid ytics
set arrow 1 from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 2 lc rgb "#b05000"
set label 1 "2+2 goal 0.5" at graph 0.01, first 0.46 textcolor rgb "#b05000"
plot datafile using 2:xtic(1) title "BenchFS / local (1+1)", \
     ''       using 3 title "goal", \
     ''       using 4 title "2+2 / 1+1"
