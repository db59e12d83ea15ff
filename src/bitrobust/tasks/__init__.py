"""Tasks (contract 7): how batches are split and model outputs scored -- classification (the
default, also token-level for ``[N, T, C]`` outputs), causal language modelling (next-token
error and perplexity) or a user's callable. ``TASKS`` names them."""

from bitrobust.registry import Registry
from bitrobust.tasks.causal_lm import CausalLM, token_cross_entropy
from bitrobust.tasks.classification import Classification
from bitrobust.tasks.custom import CustomTask
from bitrobust.tasks.task import Score, Task, logits_of, run_batch, split_batch, to_device

TASKS: Registry[type] = Registry("task")
TASKS.add("classification", Classification)
TASKS.add("causal_lm", CausalLM)

__all__ = ["TASKS", "CausalLM", "Classification", "CustomTask", "Score", "Task", "logits_of", "run_batch", "split_batch",
           "to_device",
           "token_cross_entropy"]
