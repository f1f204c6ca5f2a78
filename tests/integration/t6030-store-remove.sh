# t6030-store-remove.sh - pack remove: refuses to remove what another
# installed pack depends on (naming the dependent, exit 7), --cascade removes
# the dependents too, automatic packs nobody needs any more go with it
# (autoremove), explicit ones stay, --dry-run changes nothing, unknown ids are
# errors, and removing everything leaves an empty, consistent store. Also the
# install reason: installing an automatic pack by name makes it explicit.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/helpers/store.sh"
cd "$T"

B1=$(mkpack pk base 1.0.0 --kind base)
A1=$(mkpack pk anatomy 1.0.0 --compat "^1")
L1=$(mkpack pk latin 1.0.0 --compat "^1")
M1=$(mkpack pk medical 1.0.0 --compat "^1" --dep "anatomy@^1" --dep "latin@^1")
V1=$(mkpack pk vet 1.0.0 --compat "^1" --dep "anatomy@^1")
C1=$(mkpack pk code 1.0.0 --compat "^1")

# medical (asked for) pulls anatomy, latin and the base in automatically: install from a bundle.
MODULARBASE_HOME="$T/scratch" "$MB" pack install -y "$B1" "$A1" "$L1" "$M1" "$V1" "$C1" >/dev/null
MODULARBASE_HOME="$T/scratch" "$MB" pack export medical vet -o mv.tar >/dev/null
MODULARBASE_HOME="$T/scratch" "$MB" pack export code --no-deps -o code.tar >/dev/null
check "install medical and vet from a bundle" "$MB" pack install -y mv.tar
check "install code" "$MB" pack install -y code.tar
check "list" "$MB" pack list
check_grep "anatomy is automatic" "^anatomy .* auto " "$T/out"
check_grep "medical is explicit" "^medical .* explicit " "$T/out"

check_exit 2 "remove without ids" "$MB" pack remove
check_exit 4 "remove an unknown pack" "$MB" pack remove nosuch
check_grep "says it is not installed" "'nosuch' is not installed" "$T/err"
check_exit 2 "remove a path" "$MB" pack remove ./x.mbpack
H=$MODULARBASE_HOME
store_snapshot "$H" >s0.txt

check_exit 7 "remove a dependency: refused" "$MB" pack remove anatomy
check_grep "names a dependent" "cannot remove 'anatomy': '(medical|vet)' 1.0.0 depends on it" "$T/err"
check_grep "suggests --cascade" "cascade" "$T/err"
check_exit 7 "remove the base: refused" "$MB" pack remove base
check_grep "names a pack that needs the base" "cannot remove 'base': '[a-z]+' 1.0.0 runs on it" "$T/err"
store_snapshot "$H" >s1.txt
check "refusals changed nothing" cmp s0.txt s1.txt

check "remove --dry-run medical" "$MB" pack remove --dry-run medical
check_grep "medical would go" "^  medical " "$T/out"
check_grep "latin would go as no longer needed" "latin .*no longer needed" "$T/out"
check_exit 1 "anatomy is still needed by vet" grep -q "^  anatomy" "$T/out"
store_snapshot "$H" >s1.txt
check "dry run changed nothing" cmp s0.txt s1.txt

check "remove medical" "$MB" pack remove -y medical
check_grep "medical removed" "^removed +medical 1.0.0" "$T/out"
check_grep "latin autoremoved" "^removed +latin 1.0.0" "$T/out"
check_exit 1 "anatomy kept (vet needs it)" grep -q "anatomy" "$T/out"
check_exit 1 "medical left the world" grep -q "^medical" "$H/world"
check_converged "consistent after remove" "$H"

check "remove anatomy --cascade" "$MB" pack remove -y --cascade anatomy
check_grep "vet removed by the cascade" "^removed +vet 1.0.0" "$T/out"
check_grep "anatomy removed" "^removed +anatomy 1.0.0" "$T/out"
check "list after the cascade" "$MB" pack list --json
cp "$T/out" l.json
check "code and base are left" "$PY" -c '
import json,sys; d=json.load(open(sys.argv[1]))["packs"]
assert [(p["id"],p["automatic"]) for p in d]==[("base",True),("code",False)], d' l.json

# Naming an automatic pack in an install makes it explicit, and then it stays.
check "install base by its file" "$MB" pack install -y "$B1"
check_grep "base marked explicit" "^marked +base 1.0.0 \(explicit\)" "$T/out"
check "remove code" "$MB" pack remove -y code
check_exit 1 "the explicit base stays" grep -q "removed *base" "$T/out"
check "remove base" "$MB" pack remove -y base
check "list --json" "$MB" pack list --json
check_eq "the store is empty" "$(tr -d ' \n' <"$T/out")" '{"packs":[]}'
check_converged "empty and consistent" "$H"
check_exit 1 "no pack directories are left" sh -c "ls -A '$H/packs' | grep -q ."
finish
