# Orion: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
VENV := .venv
PY := $(VENV)/bin/python
UV := $(TOOLS)/bin/uv
SIM_PORT ?= 8001
# How long `make run` waits for the simulator to answer: a cold start on a busy machine
# (imports, Django set-up) takes several seconds.
SIM_WAIT ?= 120
PORT ?= 8000

.PHONY: install chromium run dev test lint bench worker clean

$(UV):
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "$(PYTHON) cannot create virtual environments: install python3-venv" \
	    "(sudo apt-get install python3-venv)" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

SIM_MODELS := http://127.0.0.1:$(SIM_PORT)/v1/models

# Embedded defaults: SQLite, in-memory channel layer, in-process cache and tasks, and the
# bundled LLM simulator standing in for a model (the page says so). The server starts only
# once the simulator answers, so the page never names a simulator that is not there. Without
# OPENAI_BASE_URL the simulator answers under its own name (whatever ORION_MODEL says), so
# the page always says so. `make run` serves as production does (DEBUG off: Orion's own
# error pages, static files collected, a secret key made once for this checkout in .run/);
# `make dev` the same with Django's debug pages.
run dev: install
	$(PY) manage.py migrate --no-input
	DJANGO_DEBUG=true $(PY) manage.py load_demo --port $(PORT)
	$(PY) manage.py kb_ingest agents/knowledge/demo >/dev/null
	@mkdir -p .run
	@[ -s .run/secret-key ] || $(PY) -c \
	  'import secrets; print(secrets.token_urlsafe(50))' > .run/secret-key
	@[ "$@" = dev ] || DJANGO_DEBUG=false DJANGO_SECRET_KEY="$$(cat .run/secret-key)" \
	  $(PY) manage.py collectstatic --no-input -v 0
	@if $(PY) -c 'import socket; socket.create_connection(("127.0.0.1", $(SIM_PORT)), 1)' \
	    2>/dev/null; then \
	  echo "Port $(SIM_PORT) is taken, so the LLM simulator cannot start there:" \
	    "stop what listens on it or pick another port (make run SIM_PORT=8011)." >&2; \
	  exit 1; \
	fi
	@trap 'kill $$SIM_PID 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py llm_simulator --port $(SIM_PORT) & SIM_PID=$$!; \
	ready=; deadline=$$((SECONDS + $(SIM_WAIT))); \
	while [ $$SECONDS -lt $$deadline ] && kill -0 $$SIM_PID 2>/dev/null; do \
	  if $(PY) -c 'import urllib.request as r; r.urlopen("$(SIM_MODELS)", timeout=0.5)' \
	      2>/dev/null; then ready=1; break; fi; \
	  sleep 0.1; \
	done; \
	[ -n "$$ready" ] || { \
	  echo "The LLM simulator did not answer at $(SIM_MODELS) within $(SIM_WAIT) s, or" \
	    "it stopped (its output is above); Orion was not started." >&2; \
	  exit 1; }; \
	if [ -z "$${OPENAI_BASE_URL:-}" ]; then \
	  export OPENAI_BASE_URL=http://127.0.0.1:$(SIM_PORT)/v1 ORION_MODEL=orion-sim-1; \
	fi; \
	export DJANGO_DEBUG=$(if $(filter dev,$@),true,false) DJANGO_SECRET_KEY="$$(cat .run/secret-key)"; \
	$(PY) manage.py serve --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# The browser tests drive Debian's Chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Debian's Chromium: sudo apt-get install chromium" >&2; \
	    exit 1; \
	  fi; }

test: lint chromium
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

bench: install
	$(PY) bench/run.py $(ARGS)

worker: install
	$(VENV)/bin/celery -A project worker --loglevel=info

clean:
	rm -rf $(VENV) $(TOOLS) .run staticfiles
