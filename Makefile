# Every target works on a fresh machine: the first run builds .venv.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/proxy:$(CURDIR)
STYLUA := $(VENV)/npm/node_modules/.bin/stylua
BIOME := $(VENV)/npm/node_modules/.bin/biome

.PHONY: install test check lint demo bench soak clean

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	# pyright-langserver (Node): the attach tests' epoll case.
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm pyright@1
	touch $@

# stylua (Node package with the binary): lint checks the Lua's formatting. A target of its own,
# so that a .venv made before it was added gets it too.
$(STYLUA): | $(VENV)/.installed
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm @johnnymorganz/stylua-bin@2

# biome (npm's Node script running the native binary): `biome lsp-proxy` is the Node
# server that discovery and attach find by its subcommand. A target of its own, like stylua.
$(BIOME): | $(VENV)/.installed
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm @biomejs/biome@2

install: $(VENV)/.installed $(STYLUA) $(BIOME)

lint: install
	$(PY) -m ruff check proxy tests bench demo rplugin
	# Host-side code must run on Python 3.8 with the standard library only.
	$(VENV)/bin/vermin --no-tips --violations -t=3.8- proxy/remote_lsp proxy/proxy.py
	# The Neovim plugin: no globals but vim (.luacheckrc), formatted as stylua.toml says.
	luacheck lua plugin
	$(STYLUA) --check lua plugin

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The fast loop, under a minute: unit, contract and in-process tests (not those marked `system`,
# which run real processes around a real agent: sshd, Neovim, tmux; tests/conftest.py marks them).
check: lint
	$(PY) -m pytest -q -m "not system" $(PYTEST_ARGS)

demo: install
	$(PY) demo/demo.py

bench: install
	sh bench/needs.sh
	$(PY) bench/bench.py

# 8 clients x 5,000 requests with random kills of clients and of the agent (a short one runs in `make test`).
soak: install
	$(PY) -m tests.support.soak --clients 8 --requests 5000 --kills 12 --agent-kills 3

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
