# The two commands of the README:
#   make site   install everything, then build the course site into _build/html
#   make test   run the whole test suite
PYTHON ?= python3
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: site test install instructor-site release bench student-lab

site: install
	$(PYTHON) -m coursetools site

test:
	$(PYTHON) -m pytest -n 2 --dist loadgroup --durations=25

install:
	bash tools/install.sh

instructor-site:
	$(PYTHON) -m coursetools site --instructor

release:
	$(PYTHON) -m coursetools release

bench:
	$(PYTHON) benchmarks/mlp_step.py

# JupyterLab on chapters/ as students see it (README: Opening the notebooks).
student-lab:
	bash tools/student-lab.sh
