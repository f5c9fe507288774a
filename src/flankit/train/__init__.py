"""Finetuning: packed batches, attention masks, the training loop and checkpoints."""
