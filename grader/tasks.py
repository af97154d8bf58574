"""The course's tasks, in teaching order: one source for the grader's columns,
the skeleton's README and the notebooks. A task's id is what the solution
markers in reference/ carry (`### BEGIN SOLUTION [1.1] ...`)."""

from __future__ import annotations

TASKS: dict[str, str] = {
    "1.1": "Forward pass: addition and multiplication",
    "1.2": "Forward pass: power and division",
    "1.3": "Forward pass: exp and log",
    "1.4": "Forward pass: tanh, sigmoid and relu",
    "2.1": "Local derivatives: addition and multiplication",
    "2.2": "Local derivatives: power and division",
    "2.3": "Local derivatives: exp and log",
    "2.4": "Local derivatives: tanh, sigmoid and relu",
    "3.1": "Topological order (iterative)",
    "3.2": "backward(): the chain rule over the whole graph",
    "4.1": "Neuron (and Module.zero_grad)",
    "4.2": "Layer",
    "4.3": "MLP",
    "5.1": "Losses: SVM max-margin, MSE, L2 penalty",
    "5.2": "Training: learning-rate schedule, SGD step, accuracy",
}

SECTIONS: dict[str, str] = {
    "1": "The forward pass",
    "2": "Local derivatives",
    "3": "Backpropagation",
    "4": "A neural-network library",
    "5": "Training",
}


def task_marker(task: str) -> str:
    """The pytest marker of a task: 1.1 -> task1_1 (run with `pytest -m task1_1`)."""
    return "task" + task.replace(".", "_")
