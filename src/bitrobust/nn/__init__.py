"""Layers for bit error robust networks: reparameterized normalization, binary layers."""
