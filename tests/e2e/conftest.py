from wrnvtmux import tmux  # noqa: F401  (fixture)
