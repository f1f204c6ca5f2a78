#!/usr/bin/env bash
# quickstart.sh - the README's main command: on a fresh Debian 12 machine it
# installs dependencies, builds modularbase, fetches the real model
# (SmolLM2-135M-Instruct) and walks the whole modular journey with it:
#
#   1. pack import      split the model into a base, a general pack and a router pack
#   2. key generate     a signing key (no password; it lives in the journey's home)
#   3. pack build       build and sign the three packs
#   4. registry init    a local file:// registry; pack publish; registry refresh
#   5. registry add     as a user would, pinning the registry's key
#   6. pack install general   (pulls the base and the router by dependency)
#   7. chat             with no --model: the installed base + router + packs, over a pipe
#   8. status           the memory picture of what is installed
#
# Everything lands in build/quickstart/ (the store is build/quickstart/home,
# set as MODULARBASE_HOME), removed at the start of every run, so a second run
# works the same and nothing outside the build directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
MB=$PWD/build/modularbase
MODEL=$(scripts/fetch-model.sh)

Q=$PWD/build/quickstart
rm -rf "$Q"
mkdir -p "$Q/dist"
export MODULARBASE_HOME=$Q/home NO_COLOR=1
step() {
    echo
    echo "==> $*"
}

step "modularbase pack import $MODEL -o $Q/packs"
"$MB" pack import "$MODEL" -o "$Q/packs"

step "modularbase key generate --name quickstart --no-password"
"$MB" key generate --name quickstart --no-password

for p in base general router; do
    step "modularbase pack build $Q/packs/$p -o $Q/dist --key quickstart"
    "$MB" pack build "$Q/packs/$p" -o "$Q/dist" --key quickstart
done

# The registry is a directory of static files; here it is used as file://.
# (Any web server serving $Q/registry works the same with an http:// URL.)
step "modularbase registry init $Q/registry --name quickstart --key quickstart"
"$MB" registry init "$Q/registry" --name quickstart --key quickstart
for f in "$Q"/dist/*.mbpack; do
    step "modularbase pack publish $f --registry $Q/registry"
    "$MB" pack publish "$f" --registry "$Q/registry"
done
step "modularbase registry refresh $Q/registry --key quickstart"
"$MB" registry refresh "$Q/registry" --key quickstart

PUB=$("$MB" key export-public --name quickstart --base64)
step "modularbase registry add quickstart file://$Q/registry --key $PUB"
"$MB" registry add quickstart "file://$Q/registry" --key "$PUB"

step "modularbase pack install -y general"
"$MB" pack install -y general

# Greedy, so the output is the same on every run; `modularbase chat` without a
# pipe is interactive. --verbose prints the packs chosen for each message.
step "printf 'What is the capital of France?\\nWrite a haiku about the sea.\\n' | modularbase chat --temp 0 -n 48 --verbose"
printf 'What is the capital of France?\nWrite a haiku about the sea.\n' |
    "$MB" chat --temp 0 -n 48 --verbose

step "modularbase status"
"$MB" status

echo
echo "Done. To keep using this setup: export MODULARBASE_HOME=$Q/home"
