# rpc_bw.gp - RPC-level chunk bandwidth vs transfer size (bench/run_all.sh),
# one client with one RPC in flight, next to ucx_perftest ucp_am_bw.
# Variables: datafile, outfile. Columns: size shm_write shm_read tcp_write
# tcp_read perftest_shm perftest_tcp (MiB/s).
set output outfile
set title "Chunk write/read bandwidth over the RPC layer vs raw UCX (1 client)"
set datafile missing "?"
set logscale x 2
set logscale y
set format x "%.0b%B"
set xlabel "transfer size (bytes)"
set ylabel "MiB/s"
set grid
set key bottom right
plot datafile using 1:2 with linespoints lw 2 title "BenchFS write, shm", \
     ''       using 1:3 with linespoints lw 2 title "BenchFS read, shm", \
     ''       using 1:4 with linespoints lw 2 dt 2 title "BenchFS write, tcp", \
     ''       using 1:5 with linespoints lw 2 dt 2 title "BenchFS read, tcp", \
     ''       using 1:6 with points pt 7 ps 1.5 title "ucx\\_perftest ucp\\_am\\_bw, shm", \
     ''       using 1:7 with points pt 5 ps 1.5 title "ucx\\_perftest ucp\\_am\\_bw, tcp"
