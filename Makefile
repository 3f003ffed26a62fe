# Two commands do everything on a fresh machine:
#   make demo   set up .venv, generate a sample TFLite model, import it to circle, inspect and
#               optimize it, pack it with test data and run the package, checking the data;
#               then generate its C, build it and run it through the `c` backend
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := plugins/one-frontend-tflite plugins/one-backend-runtime plugins/one-frontend-tf plugins/one-passes \
           plugins/one-frontend-onnx plugins/one-quantizer plugins/one-backend-codegen
OUT := out

.PHONY: setup demo test bench regen clean

$(STAMP): pyproject.toml $(PLUGINS:%=%/pyproject.toml) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . $(PLUGINS:%=-e %) -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	mkdir -p $(OUT)
	$(BIN)/python scripts/make_sample_model.py $(OUT)/sample.tflite
	$(BIN)/one import $(OUT)/sample.tflite -o $(OUT)/sample.circle
	$(BIN)/one inspect $(OUT)/sample.circle
	$(BIN)/one optimize $(OUT)/sample.circle -o $(OUT)/sample.opt.circle --report
	rm -rf $(OUT)/sample
	$(BIN)/one pack $(OUT)/sample.opt.circle -o $(OUT) --name sample --with-test-data
	$(BIN)/one run $(OUT)/sample --check
	$(BIN)/one run $(OUT)/sample --repeat 20 --warmup 2
	$(BIN)/one codegen $(OUT)/sample.opt.circle -o $(OUT)/sample_c --name sample --input_shapes 1,32,32,3
	$(MAKE) -s -C $(OUT)/sample_c
	$(BIN)/one run $(OUT)/sample.opt.circle --backend c --repeat 20 --warmup 2

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/import_speed.py

regen: setup
	$(BIN)/python scripts/generate_schema_code.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
