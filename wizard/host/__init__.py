"""Step 3, Host check: can this machine build Wind River Linux LTS 19 (tools, Python, disk, memory, locale, git
identity, not root, distribution)?

May import wizard.core only.
"""
