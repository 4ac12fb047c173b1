"""Set-up shared by every test.

One OpenMP/BLAS thread in the test process and in every process and notebook kernel it starts (they
inherit the environment; set before torch or scikit-learn is imported). With a thread per core on a
small machine, torch and scikit-learn's t-SNE spin-wait against each other and against any other load:
notebook 04's maps took 46 s instead of 1 s on 2 busy cores. The tiny models' numbers do not depend on
it (training already runs on ``train.num_threads: 1``). A value set by the caller is kept.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
