"""Steps 9 and 10, SD-card image and Write the card: unpack the tegraflash package, run dosdcard.sh, find and
classify disks (pyudev, hotplug), write and verify the card, the elevated helper, and recovery-mode detection.

May import wizard.core only. `python -m wizard.card.flash_helper` is the one program that runs as root.
"""
