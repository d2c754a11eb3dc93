import os

# Tests always run single-threaded (two torch threads on two shared cores ran 10x slower)
# and in the ci profile unless the caller says otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("QCL_PROFILE", "ci")

import torch  # noqa: E402

torch.set_num_threads(1)
