# `make demo` and `make test` are the two commands a newcomer needs; both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/playbook/kernel.json

.PHONY: setup demo test lab clean

setup: $(STAMP) $(KERNEL)

# Reinstall whenever pyproject.toml changes, so the venv never drifts from the declared deps.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The notebooks name the kernel "playbook"; register it inside the venv so papermill finds it.
$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name playbook --display-name "Python (playbook)" >/dev/null
	test -f $(KERNEL)

demo: setup
	$(BIN)/playbook demo

test: setup
	$(BIN)/python -m pytest

# JupyterLab refuses to run as root unless told; containers and CI often are root.
lab: setup
	$(BIN)/playbook sample --if-missing
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf $(VENV) reports data
