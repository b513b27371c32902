# Bar chart of img/s per tool at each worker count, for scripts/bench.
#   gnuplot -e "dat='bench.dat'; out='bench.png'; t0='...'; t1='...'; nw=2; ng=2" bench_plot.gp
# bench.dat holds one block per set (separated by two blank lines), each
# with a header line "tool w1 w2" and one line per tool: "name" ips1 ips2.
if (!exists("nw")) nw = 2
if (!exists("ng")) ng = 1
if (!exists("t1")) t1 = ""

set terminal pngcairo size (ng > 1 ? 1400 : 800), 520 font "sans,11"
set output out
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key inside top left
set offsets graph 0, graph 0, graph 0.12, 0
set grid ytics
set ylabel "images per second (median)"
set yrange [0:*]
set xtics nomirror
set ytics nomirror

if (ng > 1) set multiplot layout 1, 2

set title t0
plot for [c=2:nw+1] dat index 0 using c:xtic(1) title columnheader(c)
if (ng > 1) {
	set title t1
	plot for [c=2:nw+1] dat index 1 using c:xtic(1) title columnheader(c)
	unset multiplot
}
