"""Measuring a model: attention maps and their scores, localisation, probes, position
embeddings, the principal components of the patch-embedding filters, inductive-bias measurements,
the cost of attention, and a shape trace of a forward pass."""
