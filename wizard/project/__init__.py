"""Steps 5 to 7, Board & distro, Create project and local.conf: clone wrlinux-x, run setup.sh, pin meta-tegra,
add its layers, write the managed local.conf block, export a kas file, and the Wind River build environment.

May import wizard.core only. wizard.build uses this package (the build runs in the project's environment).
"""
