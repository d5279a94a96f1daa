"""Setup shared by every test: one BLAS thread (the machine is shared) and a headless matplotlib."""

import os

# Must happen before anything imports numpy: BLAS reads these once, at load time.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
