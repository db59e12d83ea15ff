"""Tasks (contract 7): how batches are split and model outputs scored -- classification (the
default, also token-level for ``[N, T, C]`` outputs) or a user's callable. ``TASKS`` names them."""

from bitrobust.registry import Registry
from bitrobust.tasks.classification import Classification
from bitrobust.tasks.custom import CustomTask
from bitrobust.tasks.task import Score, Task, logits_of, split_batch, to_device

TASKS: Registry[type] = Registry("task")
TASKS.add("classification", Classification)

__all__ = ["TASKS", "Classification", "CustomTask", "Score", "Task", "logits_of", "split_batch", "to_device"]
