"""The Textual UI: one screen per step, thin, driving engine objects from `wizard`."""
