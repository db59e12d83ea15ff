"""Model architectures chosen by name: SimpleNet (MNIST/CIFAR10), ResNet-20/50, WRN-28-10,
a small MLP and CNN (paper 3, Table 6 and App. F).

``build_model("simplenet_cifar")`` builds a registered model; ``MODELS.names()`` lists
them. Every module of this package registers its architectures on import, and the
package imports all of its modules, so a new file only needs ``@MODELS.register``.
"""

from __future__ import annotations

import importlib
import pkgutil

from bitrobust.models.base import (
    MODELS,
    ParamRow,
    build_model,
    check_model,
    count_weights,
    describe,
    he_init,
    parameter_table,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MODELS",
    "ParamRow",
    "build_model",
    "check_model",
    "count_weights",
    "describe",
    "he_init",
    "parameter_table",
]
