# Two entry points (see README):  make book  |  make test
# Both create the virtual environment .venv from requirements.txt on first use.
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
BIN     := $(VENV)/bin
BUILD   := _build/$(PROFILE)
# Offline machines with the project's shared data folder beside the checkout read data from it
# (the MNIST test split); elsewhere data downloads to ~/.cache/qcl_helpers. QCL_DATA_DIR overrides.
ifeq ($(strip $(QCL_DATA_DIR)),)
ifneq ($(wildcard ../shared/data),)
export QCL_DATA_DIR := $(abspath ../shared/data)
endif
endif

.PHONY: book test test-ci test-quick check-book venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

# Build the book, executing every chapter in profile $(PROFILE) (default: quick).
# HTML: _build/<profile>/_build/html/index.html (one folder per profile, so cached
# executions of one profile never stand in for another).
book: venv
	QCL_PROFILE=$(PROFILE) $(BIN)/jupyter-book build . -W --keep-going --path-output $(BUILD)
	@echo "Book: $(BUILD)/_build/html/index.html"

# What CI runs, in two lanes side by side (each single-threaded, so two cores finish in about
# the time of the longer lane):
#  - test-ci: unit tests (the Colab simulation included), then the book build with -W in the
#    ci profile, which executes every notebook (a failing cell or assert fails it, as nbval
#    would: `pytest book/NN-x.ipynb --nbval-lax` runs one alone), then the browser check;
#  - test-quick: the README's main command, `make book` (quick profile), then the browser
#    check; quick-only assertions in the chapters (e.g. chapter 01's gap) fail this build.
# .ci/timed prints each step's time (also into _build/times.txt).
test: venv
	$(MAKE) --no-print-directory -j2 --output-sync=target test-ci test-quick

test-ci: venv
	.ci/timed "unit tests + Colab simulation (ci)" env OMP_NUM_THREADS=1 QCL_PROFILE=ci \
	  $(BIN)/python -m pytest tests -q
	.ci/timed "book build (ci)" env OMP_NUM_THREADS=1 $(MAKE) --no-print-directory book PROFILE=ci
	.ci/timed "browser check (ci)" $(MAKE) --no-print-directory check-book PROFILE=ci

test-quick: venv
	.ci/timed "make book (quick)" env OMP_NUM_THREADS=1 $(MAKE) --no-print-directory book
	.ci/timed "browser check (quick)" $(MAKE) --no-print-directory check-book PROFILE=quick

# Open every built page in headless Chromium (Debian's chromium + chromium-driver); screenshots
# go to _build/<profile>/screenshots.
check-book: venv
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  $(BIN)/python tools/check_book.py $(BUILD)/_build/html --screenshots $(BUILD)/screenshots; \
	else \
	  echo "check-book skipped: install Debian's chromium and chromium-driver to check the rendered pages"; \
	fi

clean:
	rm -rf _build
