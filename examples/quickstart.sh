#!/usr/bin/env bash
# A two-minute walkthrough of himo's data versioning in a throw-away git repository:
# add, status, commit, push to a local-folder remote, lose the data, pull it back.
set -euo pipefail
work=$(mktemp -d "${TMPDIR:-/tmp}/himo-quickstart.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export GIT_AUTHOR_NAME=himo GIT_AUTHOR_EMAIL=himo@example.com
export GIT_COMMITTER_NAME=himo GIT_COMMITTER_EMAIL=himo@example.com
himo() { python3 -m himo "$@"; }  # works even before the shell has found the new script
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

git init -q project && cd project
step himo init
mkdir -p data/images
python3 - <<'PY'
import os, random
random.seed(0)
with open("data/train.csv", "w") as f:
    f.write("x,y\n" + "".join(f"{i},{random.random():.6f}\n" for i in range(10000)))
for i in range(200):
    with open(f"data/images/{i:03}.bin", "wb") as f:
        f.write(os.urandom(4096))
PY
step himo add data/train.csv data/images
step git add -A
step git commit -qm "Track the training data with himo"
step cat data/train.csv.himo
echo "1,0.5" >> data/train.csv
rm data/images/000.bin
step himo status
step himo checkout --force
step himo status
step himo remote add -d storage "$work/remote"
step himo push
rm -rf .himo/cache data/images data/train.csv
step himo status
step himo pull
step himo status
printf '\nDone: the data came back from the remote, verified by digest.\n'
