# scaling.gp - aggregate rates with N servers + N client processes on one
# 2-core machine (bench/run_all.sh). Variables: datafile, outfile. Columns:
# N shm_fpp_write shm_fpp_read shm_create tcp_fpp_write tcp_fpp_read tcp_create.
set output outfile
set title "N servers + N clients on one machine (aggregate)"
set datafile missing "?"
set xlabel "servers (= client processes)"
set xtics (1, 2, 4)
set xrange [0.8:4.2]
set ylabel "fpp MiB/s"
set y2label "creates/s"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key outside bottom center horizontal
plot datafile using 1:2 with linespoints lw 2 title "fpp write shm", \
     ''       using 1:3 with linespoints lw 2 title "fpp read shm", \
     ''       using 1:5 with linespoints lw 2 dt 2 title "fpp write tcp", \
     ''       using 1:6 with linespoints lw 2 dt 2 title "fpp read tcp", \
     ''       using 1:4 axes x1y2 with linespoints lw 2 dt 4 title "creates shm", \
     ''       using 1:7 axes x1y2 with linespoints lw 2 dt 5 title "creates tcp"
