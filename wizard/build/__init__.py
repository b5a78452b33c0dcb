"""Step 8, Build: bitbake detached from the wizard, its console log read as it grows, and hints that explain
failures.

May import wizard.core and wizard.project (the build environment), nothing else of wizard's.
"""
