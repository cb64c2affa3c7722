#!/usr/bin/env bash
# The image's ENTRYPOINT and the one definition of the process roles: the Procfile (`make run`), compose,
# Kubernetes and OpenShift all run `entrypoint.sh ROLE`. The first argument selects the role, the rest is
# passed on. Every role `exec`s its process, so it becomes PID 1 and receives SIGTERM directly: gunicorn
# then shuts down gracefully and rqworker finishes its current job (warm shutdown) before exiting.
#   entrypoint.sh --roles         print the long-running process roles, one a line
#   entrypoint.sh --print ROLE    print ROLE's command line (shell-quoted) instead of running it
set -euo pipefail

# The serializer path, once (asyncportal/queue_names.py SERIALIZER; tests/deploy/test_entrypoint.py checks both agree).
readonly SERIALIZER="rq.serializers.JSONSerializer"
# Non-forking, recycled every RQ_WORKER_MAX_JOBS jobs; see docs/benchmarks.md "Worker class" for why.
readonly WORKER_CLASS="asyncportal.workers.RecyclingSimpleWorker"
readonly PROCESS_ROLES=(web registrations robot records sweeper)

usage() {
  cat >&2 <<'USAGE'
usage: entrypoint.sh ROLE [ARGS...] | entrypoint.sh --roles | entrypoint.sh --print ROLE
roles: web | registrations | robot | records | sweeper | migrate | wait-for-migrations | manage COMMAND [ARGS...]
USAGE
}

# Set COMMAND to the argv of role $1; return 1 for an unknown role.
command_of() {
  case "$1" in
    web) COMMAND=(gunicorn asyncportal.wsgi:application --config asyncportal/gunicorn.conf.py) ;;
    registrations) COMMAND=(python manage.py rqworker registrations --with-scheduler --serializer "$SERIALIZER" --worker-ttl 60 --worker-class "$WORKER_CLASS") ;;
    robot) COMMAND=(python manage.py rqworker robot --serializer "$SERIALIZER" --worker-ttl 60 --worker-class "$WORKER_CLASS") ;;
    records) COMMAND=(python manage.py rqworker-pool records --num-workers "${WORKERS:-2}" --serializer "$SERIALIZER" --worker-class "$WORKER_CLASS") ;;
    sweeper) COMMAND=(python manage.py sweep) ;;
    migrate) COMMAND=(python manage.py migrate --noinput) ;;
    manage) COMMAND=(python manage.py) ;;
    *) return 1 ;;
  esac
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
COMMAND=()

case "$role" in
  --roles)
    printf '%s\n' "${PROCESS_ROLES[@]}" ;;
  --print)
    if (($# != 1)) || ! command_of "$1"; then usage; exit 64; fi
    printf '%q' "${COMMAND[0]}" && printf ' %q' "${COMMAND[@]:1}" && echo ;;
  wait-for-migrations)
    wait_for_migrations ;;
  *)
    if [[ -z "$role" || "$role" == -* ]] || ! command_of "$role"; then usage; exit 64; fi
    exec "${COMMAND[@]}" "$@" ;;
esac
