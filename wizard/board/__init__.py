"""Step 11, Boot & check: find the booted board without scanning the network (each written card's board by
the host name it was given: cards), reach it over SSH, and check the NVIDIA container runtime chain up to a GPU
probe inside a container.

May import wizard.core only.
"""
