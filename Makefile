# Two entry points for people: `make demo` and `make test`. Everything else is set-up they call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS_STAMP := .tools/.installed
# empty: tether up uses 6443 and 127.0.0.1:8080, or free ports when those are taken (it says which)
DEMO_PORT ?=
DEMO_LISTEN ?=

.PHONY: demo test lint typecheck unit setup tools bench clean system-packages image-packages image

setup: $(STAMP) $(TOOLS_STAMP) system-packages

# Debian packages the tests drive for real: sshd (git over SSH) and Chromium (the UI tests,
# driven by Playwright with executable_path). Installed once when missing.
system-packages: image-packages
	@missing=""; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Debian packages that build and run the container image (docs/image.md): mmdebstrap makes the
# root file system, umoci assembles the OCI layout, skopeo copies it, runc runs it, and
# docker-registry is the registry the image tests push to. Installed once when missing.
IMAGE_TOOLS := mmdebstrap umoci skopeo runc docker-registry
image-packages:
	@missing=""; \
	for tool in $(IMAGE_TOOLS); do command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# the OCI image of the committed HEAD into build/image/tether, tagged with the project's version
# (IMAGE_COMMIT=<rev> builds another commit); digest, sizes and layers in build/image/report.json
IMAGE_COMMIT ?= HEAD
image: $(STAMP) $(TOOLS_STAMP) image-packages
	$(BIN)/python -m image.build --commit $(IMAGE_COMMIT) --output build/image

# the runtime libraries at the versions of image/requirements.txt: the tests run with what the
# image ships, and a new upstream release changes nothing until the lock is rewritten
$(STAMP): pyproject.toml image/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c image/requirements.txt -e '.[dev]'
	touch $(STAMP)

$(TOOLS_STAMP): $(STAMP) tether/tools.py
	$(BIN)/python -m tether.tools install
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

demo: setup
	$(BIN)/tether up $(if $(DEMO_PORT),--port $(DEMO_PORT)) $(if $(DEMO_LISTEN),--listen $(DEMO_LISTEN))

lint: setup
	$(BIN)/ruff check tether tests bench image
	$(BIN)/ruff format --check tether tests bench image

typecheck: setup
	$(BIN)/mypy tether image

# the suite runs on two workers (each with its own local cluster): about 8 minutes on 2 cores;
# `make unit TEST_WORKERS=0` runs it in one process. Suites marked slow (the image is built and
# run, whole demos) run in CI (CI=true) or with TEST_SLOW=1; elsewhere they are deselected.
TEST_WORKERS ?= 2
TEST_SLOW ?= $(CI)
unit: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) $(if $(filter 1 true yes,$(TEST_SLOW)),,-m "not slow")

test: lint typecheck unit

bench: setup
	$(BIN)/python bench/localcluster.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
