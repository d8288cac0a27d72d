#!/bin/bash
# Time from launching the TUI to the first screen showing a text, in a real terminal (tmux 120x40).
#   benchmarks/tui_start.sh "xrdtui open store/paper.h5" "type to filter"   # the first screen
#   benchmarks/tui_start.sh "xrdtui open store/paper.h5" "Na3MnCoNiO6"      # the runs tree filled in
# Prints the seconds, then the top of the screen. Needs tmux and bc.
set -u
cmd=$1; text=$2; session=xrdtui-start-$$
start=$(date +%s.%N)
tmux new-session -d -s "$session" -x 120 -y 40 "$cmd"
while ! tmux capture-pane -p -t "$session" 2>/dev/null | grep -q "$text"; do
  if (( $(echo "$(date +%s.%N) - $start > 30" | bc) )); then echo "timeout (30 s)"; break; fi
  sleep 0.02
done
echo "$(echo "$(date +%s.%N) - $start" | bc) s"
tmux capture-pane -p -t "$session" | head -8
tmux kill-session -t "$session"
