#!/usr/bin/env bash
# The image's ENTRYPOINT: the first argument selects the process role, the rest is passed on.
# Every role `exec`s its process, so it becomes PID 1 and receives SIGTERM directly: gunicorn
# then shuts down gracefully and rqworker finishes its current job (warm shutdown) before exiting.
# Keep the commands identical to the Procfile's (tests/deploy/test_entrypoint.py compares them).
set -euo pipefail

readonly SERIALIZER="rq.serializers.JSONSerializer"
# Non-forking, recycled every RQ_WORKER_MAX_JOBS jobs; see docs/benchmarks.md "Worker class" for why.
readonly WORKER_CLASS="asyncportal.workers.RecyclingSimpleWorker"

usage() {
  cat >&2 <<'EOF'
usage: entrypoint.sh ROLE [ARGS...]
roles: web | registrations | robot | records | sweeper | migrate | wait-for-migrations | manage COMMAND [ARGS...]
EOF
}

# Block until `migrate` has run (an init container): new code must not meet an old schema.
wait_for_migrations() {
  local deadline=$((SECONDS + ${MIGRATION_WAIT_SECONDS:-600}))
  until python manage.py migrate --check --noinput >/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "entrypoint: migrations still unapplied (or database unreachable) after ${MIGRATION_WAIT_SECONDS:-600}s" >&2
      return 1
    fi
    echo "entrypoint: waiting for migrations to be applied" >&2
    sleep 5
  done
}

role="${1:-}"
if (($# > 0)); then shift; fi

case "$role" in
  web)
    exec gunicorn asyncportal.wsgi:application --config asyncportal/gunicorn.conf.py "$@" ;;
  registrations)
    exec python manage.py rqworker registrations --with-scheduler --serializer "$SERIALIZER" --worker-ttl 60 --worker-class "$WORKER_CLASS" "$@" ;;
  robot)
    exec python manage.py rqworker robot --with-scheduler --serializer "$SERIALIZER" --worker-ttl 60 "$@" ;;
  records)
    exec python manage.py rqworker-pool records --num-workers "${WORKERS:-2}" --serializer "$SERIALIZER" --worker-class "$WORKER_CLASS" "$@" ;;
  sweeper)
    exec python manage.py sweep "$@" ;;
  migrate)
    exec python manage.py migrate --noinput "$@" ;;
  wait-for-migrations)
    wait_for_migrations ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    usage
    exit 64 ;;
esac
