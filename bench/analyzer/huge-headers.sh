#!/usr/bin/env bash
# Memory of a judged run over a huge envelope header (issue 15 item 4): one message to N local
# recipients at an Exim-style provider that lists them all in one Envelope-To line (about
# 21 octets each: N=10000 makes a 214 KB header), played by the core and by its no-strip defect
# model, which delivers that line to every recipient, so every recipient is a BCC leak with the
# whole line as its evidence. Prints peak RSS and the JSON report's size per fetcher; the bound
# (bench/README.md) is checked and the script exits 1 when it is exceeded.
#
#   bench/analyzer/huge-headers.sh build [N]
set -euo pipefail
build=${1:-build}
n=${2:-10000}
max_rss_kib=${MAX_RSS_KIB:-1048576}     # 1 GiB
max_json_octets=${MAX_JSON_OCTETS:-16777216}  # 16 MiB
dir=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
python3 - "$n" > "$dir/huge.yaml" <<'PY'
import sys
n = int(sys.argv[1])
rcpts = ", ".join(f"u{i:05}@firma.example" for i in range(n))
print(f"""version: 1
name: huge-envelope-header
world: {{local_domains: [firma.example], fallback: postmaster@firma.example}}
provider: {{profile: envelope-to}}
fetcher: {{envelope: Envelope-To}}
timeline: {{run_limit: 10m}}
messages:
  - id: huge
    from: sender@sender.example
    to: [{rcpts}]
    headers: |
      From: sender@sender.example
      To: undisclosed-recipients:;
      Subject: to {n} blind-copy recipients
      Message-ID: <huge@sender.example>
    body: |
      Hello.
""")
PY
status=0
for fetcher in core no-strip; do
  /usr/bin/time -f '%M %e' -o "$dir/time" "$build/cli/dropcheck" matrix "$dir/huge.yaml" \
    --fetchers "$fetcher" --json "$dir/$fetcher.json" > "$dir/$fetcher.txt" || true
  read -r rss secs < <(tail -1 "$dir/time")
  json=$(stat -c %s "$dir/$fetcher.json")
  header=$(python3 -c "import sys; print(sum(len(f'u{i:05}@firma.example, ') for i in range($n)) - 2)")
  leaks=$(python3 -c "import json,sys; j=json.load(open('$dir/$fetcher.json')); print(sum(1 for c in j['cells'] for f in c['findings'] if f['type']=='envelope-header-leak'))")
  printf '%-9s recipients=%d header=%d octets  peak_rss=%d KiB  json=%d octets  leaks=%d  %.1f s\n' \
    "$fetcher" "$n" "$header" "$rss" "$json" "$leaks" "$secs"
  if (( rss > max_rss_kib || json > max_json_octets )); then
    echo "  over the bound: peak RSS <= $max_rss_kib KiB, JSON <= $max_json_octets octets" >&2
    status=1
  fi
done
exit $status
