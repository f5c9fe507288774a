"""Instruction data: sources -> tasks -> templates -> mixtures -> features -> packed rows."""
