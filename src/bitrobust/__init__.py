"""bitrobust: bit error robustness for quantized and binarized neural networks.

The toolkit covers the loop described in ``DESIGN.md``: quantize or binarize the
weights, inject bit errors the way low-voltage memory makes them, train for
robustness and measure it (RErr, T^b, VAR(Pi)).
"""

__version__ = "0.1.0"
