# Both targets bootstrap a fresh Debian machine: Debian packages when missing, a virtual environment,
# and the project installed into it. Only the missing packages are installed (DEB_PKGS lists them all):
# a kubectl from another package (e.g. the Cloud SDK's) owns /usr/bin/kubectl, and Debian's
# kubernetes-client would conflict with it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEB_PKGS := prometheus prometheus-alertmanager chromium iptables stress-ng kubernetes-client

.PHONY: demo test test-unit bootstrap debs lint bench clean

demo: bootstrap
	$(VENV)/bin/enginewatch gameday --out gameday-report

# One worker: the live modules share one session stack in a fixed order. Two pytest-xdist workers
# (`make test PYTEST_ARGS="-n 2 --dist loadfile"`) halve the time (8 min against 15), but their
# varying module order still lets alerts one module leaves behind reach another's steady state.
test: bootstrap lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The quick subset: no pod, gateway, Prometheus or browser is started (about a minute).
test-unit: bootstrap lint
	$(PY) -m pytest -q -m unit

bootstrap: debs $(STAMP)

debs:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	PATH="$$PATH:/usr/sbin:/sbin" command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v stress-ng >/dev/null || missing="$$missing stress-ng"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# ruff, and the layers of the house (pyproject.toml [tool.importlinter]).
lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

bench: bootstrap
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
