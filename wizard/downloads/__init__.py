"""Steps 2 and 4, NVIDIA prerequisites and Verify downloads: which SDK Manager files the build reads (the
manifest), are they there and intact (sha256, with a cache), and staging TensorRT into NoDLA/.

May import wizard.core only.
"""
