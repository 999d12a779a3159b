"""RadFound: a radiology vision-language model for 3D Slicer and the command line.

Everything this package produces is a preliminary AI draft for a radiologist to
edit and sign; it is not a medical device.
"""

__version__ = "0.1.0"
