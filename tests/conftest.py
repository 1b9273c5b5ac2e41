"""Shared test set-up.

`import kerascls` first, as every command and example does: it turns TensorFlow's oneDNN
kernels on before TensorFlow loads, so the tests run the same kernels as users do.
"""

import kerascls  # noqa: F401
