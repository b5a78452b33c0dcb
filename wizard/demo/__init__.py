"""The demo sandbox: stand-ins for the outside world (repos, bitbake, the card). Only --demo and tests use it."""
