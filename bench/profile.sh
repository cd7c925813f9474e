#!/bin/bash
# Where one server spends a run: CPU time per message of each of its
# processes, the machine's busy and idle time per message, and the block
# device's writes, discards and cache flushes per message. Diagnosis, not
# run by `make bench`.
#
#   bench/profile.sh PORT MESSAGES [SESSIONS [PID...]]
#
# PIDs: the server's processes (for Raven: $(pgrep -P <ravend pid>)); without
# them only the machine-wide figures are printed. The device is the one
# holding the current directory's file system.
set -euo pipefail

usage="usage: profile.sh PORT MESSAGES [SESSIONS [PID...]]"
port=${1:?$usage}
n=${2:?$usage}
sessions=${3:-20}
shift $(($# < 3 ? $# : 3))
pids=("$@")

dev=$(basename "$(df --output=source . | tail -1)")
stat_file=/sys/block/$dev/stat

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in ticks
machine() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }

sync
sleep 2
declare -A before
for p in "${pids[@]}"; do before[$p]=$(cpu_of "$p"); done
machine0=$(machine)
dev0=$(cat "$stat_file")
t0=$(date +%s.%N)
bash "$(dirname "$0")/postfix.sh" run smtp-source -s "$sessions" -m "$n" -l 1024 -f sender@client.test -t user@bench.test \
	-M client.test "127.0.0.1:$port"
t1=$(date +%s.%N)
machine1=$(machine)
procs=""
for p in "${pids[@]}"; do
	procs+="$p $(cat "/proc/$p/comm") ${before[$p]} $(cpu_of "$p")"$'\n'
done
sleep 3 # the run's write-back reaches the device before its counters are read
dev1=$(cat "$stat_file")

HZ=$(getconf CLK_TCK)
export N=$n T0=$t0 T1=$t1 HZ MACHINE="$machine0 $machine1" DEV0="$dev0" DEV1="$dev1" PROCS="$procs"
/usr/bin/python3 -c '
import os
e = os.environ
n, t0, t1, hz = int(e["N"]), float(e["T0"]), float(e["T1"]), int(e["HZ"])
b0, i0, b1, i1 = (float(x) for x in e["MACHINE"].split())
d = [y - x for x, y in zip(map(int, e["DEV0"].split()), map(int, e["DEV1"].split()))]
ms = lambda ticks: ticks * 1000.0 / hz / n
print("%d messages in %.2f s: %.0f msg/s" % (n, t1 - t0, n / (t1 - t0)))
for line in e["PROCS"].splitlines():
    pid, comm, a, b = line.split()
    print("  %-14s %6.3f ms CPU per message" % (comm, ms(int(b) - int(a))))
print("  machine        %6.3f ms busy, %.3f ms idle per message" % (ms(b1 - b0), ms(i1 - i0)))
# /sys/block/*/stat: field 4 write ios, 6 write sectors, 11 discard ios, 15 flush ios
at = lambda k: d[k] / n if len(d) > k else 0.0
print("  block device   %.1f writes (%.1f KB), %.2f discards, %.2f flushes per message"
      % (at(4), at(6) * 512 / 1024, at(11), at(15)))
'
