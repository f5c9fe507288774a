"""Evaluation: the paper's held-out protocol (MMLU, BBH, TyDiQA, MGSM), direct and CoT."""
