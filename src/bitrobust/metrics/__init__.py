"""Robustness metrics: Err/RErr, the BNN bit error tolerance T^b, neuron importance Pi and VAR(Pi)."""
