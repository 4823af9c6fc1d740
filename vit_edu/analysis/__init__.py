"""Measuring a model: attention maps and their scores, localisation, probes, position
embeddings, inductive-bias measurements, the cost of attention, and a shape trace of a forward pass."""
