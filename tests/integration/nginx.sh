# nginx.sh - a private, real nginx on 127.0.0.1 for the registry tests (source
# it after lib.sh). Each server gets its own prefix, config and logs under $T,
# a free port, WebDAV PUT/DELETE/MKCOL guarded by a bearer token, and an access
# log that records the Range and If-None-Match headers of every request. It is
# stopped by pid when the test exits.
#
#   nginx_start NAME DOCROOT [EXTRA_SERVER_DIRECTIVES]
#       starts server NAME; sets NGX_URL_<NAME> (http://127.0.0.1:PORT/),
#       NGX_LOG_<NAME> (access log), NGX_PID_<NAME>, and NGX_URL/NGX_LOG for the
#       last one started. Writes need "Authorization: Bearer $NGX_TOKEN".
#   nginx_stop NAME
#   nginx_log_count NAME REGEX      number of access-log lines matching REGEX
#   nginx_log_reset NAME            empty the access log
#   free_port                       a free TCP port on 127.0.0.1
#
# Access log lines: METHOD URI STATUS BYTES "RANGE" "IF_NONE_MATCH"

NGX_TOKEN=${NGX_TOKEN:-test-token-$$}
NGX_BIN=${NGX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

need_nginx() {
    if [ ! -x "$NGX_BIN" ]; then
        echo "skipped: nginx not installed (scripts/install-deps.sh installs nginx-full)"
        exit 77
    fi
}

free_port() {
    "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

nginx_start() {
    need_nginx
    local name=$1 root=$2 extra=${3:-}
    local prefix="$T/nginx-$name"
    mkdir -p "$prefix/logs" "$prefix/tmp" "$root"
    local port
    port=$(free_port)
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user root;"
    cat >"$prefix/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 256; }
http {
    log_format mb '\$request_method \$uri \$status \$body_bytes_sent "\$http_range" "\$http_if_none_match"';
    access_log $prefix/logs/access.log mb;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    types { application/json json; }
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 30;
    map "\$request_method:\$http_authorization" \$mb_denied {
        default 0;
        "~^(PUT|DELETE|MKCOL):" 1;
        "PUT:Bearer $NGX_TOKEN" 0;
        "DELETE:Bearer $NGX_TOKEN" 0;
        "MKCOL:Bearer $NGX_TOKEN" 0;
    }
    server {
        listen 127.0.0.1:$port;
        root $root;
        client_max_body_size 0;
        $extra
        location / {
            if (\$mb_denied) { return 401; }
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }
    }
}
EOF
    "$NGX_BIN" -p "$prefix" -c "$prefix/nginx.conf" >"$prefix/logs/stdout" 2>&1 &
    local pid=$!
    at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
    local i
    for i in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "nginx failed to start:" >&2
            cat "$prefix/logs/error.log" "$prefix/logs/stdout" >&2
            exit 1
        fi
        sleep 0.05
    done
    : >"$prefix/logs/access.log"
    printf -v "NGX_URL_$name" 'http://127.0.0.1:%s/' "$port"
    printf -v "NGX_LOG_$name" '%s' "$prefix/logs/access.log"
    printf -v "NGX_PID_$name" '%s' "$pid"
    printf -v "NGX_PORT_$name" '%s' "$port"
    NGX_URL="http://127.0.0.1:$port/"
    NGX_LOG="$prefix/logs/access.log"
}

nginx_stop() {
    local v="NGX_PID_$1"
    local pid=${!v:-}
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    printf -v "NGX_PID_$1" '%s' ""
}

nginx_log_count() {
    local v="NGX_LOG_$1"
    grep -cE -- "$2" "${!v}" || true
}

nginx_log_reset() {
    local v="NGX_LOG_$1"
    : >"${!v}"
}
