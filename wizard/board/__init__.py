"""Step 11, Boot & check: find the booted board without scanning the network, reach it over SSH, and check the
NVIDIA container runtime chain up to a GPU probe inside a container.

May import wizard.core only.
"""
