#!/usr/bin/env bash
# make demo: start the emulator, run an example DAG end to end through Airflow, print the run summary.
set -euo pipefail
cd "$(dirname "$0")/.."
DAG_ID="${DAG_ID:-example_aep_table_ingestion}"
LOGICAL_DATE="${LOGICAL_DATE:-$(date -u -d 'yesterday' +%Y-%m-%dT00:00:00+00:00)}"

export AIRFLOW_HOME="$(mktemp -d -t aep-demo-XXXXXX)"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/example_dags"
export AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
emulator_log="$AIRFLOW_HOME/emulator.log"
port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

python -m airflow_flowrun.emulator --port "$port" --run-duration 4 >"$emulator_log" 2>&1 &
emulator_pid=$!
trap 'kill "$emulator_pid" 2>/dev/null; wait "$emulator_pid" 2>/dev/null; rm -rf "$AIRFLOW_HOME"' EXIT
for _ in $(seq 100); do grep -q '^export AIRFLOW_CONN_AEP_DEFAULT=' "$emulator_log" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^export AIRFLOW_CONN_AEP_DEFAULT=' "$emulator_log")"
echo "==> Flow Service emulator on 127.0.0.1:$port (AIRFLOW_CONN_AEP_DEFAULT points at it)"

echo "==> airflow db migrate (throwaway AIRFLOW_HOME=$AIRFLOW_HOME)"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }

echo "==> airflow dags test $DAG_ID $LOGICAL_DATE"
airflow dags test "$DAG_ID" "$LOGICAL_DATE" >"$AIRFLOW_HOME/dags-test.log" 2>&1 || { cat "$AIRFLOW_HOME/dags-test.log"; exit 1; }

python scripts/demo_summary.py "$DAG_ID" || { cat "$AIRFLOW_HOME/dags-test.log"; exit 1; }
